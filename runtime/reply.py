"""The reply seam: what goes back to the caller of one invocation is a value that sends itself.

The handler step (handler.py) makes one: a buffered body (`Buffered`), an error document (`ErrorReply`), or a stream
(streaming.py: a returned iterator, or the writer a `@streaming` handler wrote to). The loop asks it to go out through
a `Channel` (the Runtime API for the open invocation; an in-memory one in runtime.testing) and gets back whether
Lambda took it; the reply then says what went out (`streamed`) and the error the invocation ended with (`error`).

Failures are told apart here, once for every kind of reply:
- the producer's error (a generator raising mid-stream) is the invocation's error, sent as Lambda's error trailers;
- the API's refusal (a 4xx, early or not) is a reply not delivered: logged, the phase runs, the runtime goes on;
- a reply sent in full whose status was lost is delivered (never sent twice);
- the API's failure (`RuntimeApiError`: reset, 500, a broken reply) propagates: the runtime must exit.
"""

from __future__ import annotations

from . import logs
from ._typing import TYPE_CHECKING
from .api import NoReply, RejectedRequest
from .errors import report_from_exception
from .marshal import to_ascii_json, to_json

if TYPE_CHECKING:
    from collections.abc import Callable

    from .api import RuntimeApi, StreamWriter
    from .errors import ErrorReport, ShutdownRequested
    from .invocation import Request
    from .streaming import Streamed


class Channel:
    """Where one invocation's reply goes."""

    #: the invocation's request id, which error documents carry
    request_id: str

    def post_response(self, body: bytes, content_type: str) -> None:
        raise NotImplementedError

    def post_error(self, report: ErrorReport) -> None:
        raise NotImplementedError

    def open_stream(self, content_type: str) -> StreamWriter:
        """Start a streamed response; its body follows through the writer (`write`, then `finish`)."""
        raise NotImplementedError


class ApiChannel(Channel):
    """The Runtime API, for one request."""

    __slots__ = ("_api", "_request", "request_id")

    def __init__(self, api: RuntimeApi, request: Request) -> None:
        self._api = api
        self._request = request
        self.request_id = request.request_id

    def post_response(self, body: bytes, content_type: str) -> None:
        request = self._request
        self._api.post_response(request.request_id, body, content_type, request.invocation_id)

    def post_error(self, report: ErrorReport) -> None:
        request = self._request
        body, cause = to_json(report.to_dict()), to_ascii_json(report.xray_cause())
        self._api.post_error(request.request_id, body, report.error_type, cause, request.invocation_id)

    def open_stream(self, content_type: str) -> StreamWriter:
        return self._api.open_stream(self._request.request_id, content_type, self._request.invocation_id)


class Reply:
    """A reply. `send()` once; then `error` and `streamed` say how the invocation ended and what went out."""

    #: the error the invocation ended with: the handler's, or the stream producer's (None after a success)
    error: BaseException | None = None
    #: for a streamed reply, what went out (runtime.streaming.Streamed); None for a buffered one
    streamed: Streamed | None = None
    #: what the watchdog calls it while it goes out
    name = "the response"

    def send(self, channel: Channel) -> bool:
        """Send the reply; True once Lambda has it. Raises `RuntimeApiError` when the API failed, and lets SIGTERM's
        `ShutdownRequested` through (then `interrupted()`)."""
        raise NotImplementedError

    def interrupted(self, shutdown: ShutdownRequested) -> None:
        """SIGTERM came while the reply was made or sent. A buffered POST may or may not have reached Lambda: the
        invocation's error stays the handler's; a stream that was cut short says so (streaming.py)."""


class Buffered(Reply):
    """A result marshalled as a whole: one `POST /response`."""

    __slots__ = ("body", "content_type")

    def __init__(self, body: bytes, content_type: str) -> None:
        self.body = body
        self.content_type = content_type

    def send(self, channel: Channel) -> bool:
        return deliver(lambda: channel.post_response(self.body, self.content_type))


class ErrorReply(Reply):
    """An error document: the handler raised (or its result could not be marshalled) before any byte went out."""

    name = "the error response"

    __slots__ = ("_raised", "error")

    def __init__(self, error: BaseException) -> None:
        self.error = self._raised = error

    def send(self, channel: Channel) -> bool:
        report = unhandled(self._raised, channel.request_id)
        return deliver(lambda: channel.post_error(report))


def unhandled(error: BaseException, request_id: str) -> ErrorReport:
    """The report of an error the invocation ends with, logged as awslambdaric logs an unhandled error."""
    report = report_from_exception(error, request_id)
    logs.log_unhandled_error(report.to_dict())
    return report


def deliver(send: Callable[[], None]) -> bool:
    """Run `send`: True once Lambda has the reply, False when it refused it; `RuntimeApiError` when the API failed."""
    try:
        send()
    except RejectedRequest as exc:
        refused(exc)
        return False
    except NoReply as exc:
        # The request went out in full; only its status is missing. Lambda has the result (it would refuse a
        # second one with 403): the phase runs, and the next /next tells whether the API is still usable.
        logs.runtime_logger().warning("the result was sent but %s: counted as delivered", exc)
    return True


def refused(exc: RejectedRequest) -> None:
    """The one log line of a result Lambda refused (the invocation is over for Lambda; the runtime goes on)."""
    if exc.status == 413:
        why = f"413, response too large (over 6 MiB): the caller gets Function.ResponseSizeTooLarge ({exc})"
    elif exc.status == 410:
        why = f"410, the invocation had already timed out ({exc})"
    else:
        why = str(exc)
    logs.runtime_logger().error("the Runtime API refused the invocation's result: %s", why)
