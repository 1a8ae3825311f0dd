"""The Lambda Runtime API and Extensions API client: the only module that knows a Runtime API path or header.

Lambda serves both APIs as plain HTTP/1.1 on a loopback address (platform §1.1); requests
go through `httpclient.HttpConnection`, one connection per API user (the loop's and the extension thread's).
"""

from __future__ import annotations

from ._typing import TYPE_CHECKING
from .httpclient import HttpConnection, NoReply, Response, RuntimeApiError, is_number
from .invocation import Request

if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Final

RUNTIME_PREFIX: Final = "/2018-06-01/runtime"
EXTENSION_PREFIX: Final = "/2020-01-01/extension"
_NEXT: Final = RUNTIME_PREFIX + "/invocation/next"

# Headers of /next (platform §1.3), compared lower-cased.
_REQUEST_ID: Final = "lambda-runtime-aws-request-id"
_DEADLINE_MS: Final = "lambda-runtime-deadline-ms"
_FUNCTION_ARN: Final = "lambda-runtime-invoked-function-arn"
_TRACE_ID: Final = "lambda-runtime-trace-id"
_CLIENT_CONTEXT: Final = "lambda-runtime-client-context"
_COGNITO_IDENTITY: Final = "lambda-runtime-cognito-identity"
_TENANT_ID: Final = "lambda-runtime-aws-tenant-id"
_INVOCATION_ID: Final = "lambda-runtime-invocation-id"
_CONTENT_TYPE: Final = "content-type"

# Headers the runtime sends (platform §1.4).
_ERROR_TYPE_HEADER: Final = "Lambda-Runtime-Function-Error-Type"
_XRAY_CAUSE_HEADER: Final = "Lambda-Runtime-Function-XRay-Error-Cause"
_INVOCATION_ID_HEADER: Final = "Lambda-Runtime-Invocation-Id"
# Response streaming (platform §1.7): the mode header, and the trailers that end a stream with an error.
_RESPONSE_MODE_HEADER: Final = "Lambda-Runtime-Function-Response-Mode"
_ERROR_BODY_TRAILER: Final = "Lambda-Runtime-Function-Error-Body"
_EXTENSION_NAME_HEADER: Final = "Lambda-Extension-Name"
_EXTENSION_ID_HEADER: Final = "Lambda-Extension-Identifier"

# RAPID crops the X-Ray cause to 64 KiB (platform §1.4): a larger header is left out rather than sent.
_XRAY_CAUSE_MAX_BYTES: Final = 64 * 1024
__all__ = [
    "EXTENSION_PREFIX",
    "RUNTIME_PREFIX",
    "ExtensionApi",
    "NoReply",
    "RejectedRequest",
    "RuntimeApi",
    "RuntimeApiError",
    "parse_invocation",
]


class RejectedRequest(RuntimeApiError):
    """The API answered a post with a 4xx status: the invocation is over for Lambda, the runtime goes on."""

    def __init__(self, endpoint: str, status: int, body: bytes) -> None:
        self.endpoint = endpoint
        self.status = status
        self.body = body
        super().__init__(f"{endpoint} answered {status}: {body.decode('utf-8', 'replace')[:500]}")


class RuntimeApi:
    """The Runtime API calls of the loop, named after its verbs (platform §1.2)."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._http = HttpConnection(address)
        #: the path of the response sent last (`send_response`), for its answer's messages
        self._posted = ""

    def close(self) -> None:
        self._http.close()

    def invocations(self) -> Iterator[Request]:
        """The invocations, one `next_invocation()` each, for as long as the environment lives."""
        while True:
            yield self.next_invocation()

    def next_invocation(self) -> Request:
        """`GET /runtime/invocation/next`: for Lambda, the runtime is done with the last invocation; block until the
        next one comes. SIGTERM interrupts the wait, whichever thread the kernel gave it to (main.py relays it to the
        main thread)."""
        self._http.send_request("GET", _NEXT)
        return parse_invocation(*self._checked(_NEXT))

    def send_next(self) -> int:
        """The first half of `next_invocation()`, for an event loop: send `GET /next` and return the descriptor to
        wait on for its reply, which `read_next()` reads."""
        self._http.send_request("GET", _NEXT)
        return self._http.fileno()

    def read_next(self) -> Request:
        """The reply to `send_next()`, once it has begun to arrive; never sends the request again (`NoReply` when the
        connection closed first: ask again with `next_invocation()`)."""
        return parse_invocation(*self._checked(_NEXT, ask_again=False))

    def reply_waiting(self) -> bool:
        """Whether the reply to the last request has begun to arrive (it can be read without waiting)."""
        return self._http.wait_readable(0)

    def post_response(self, request_id: str, body: bytes, content_type: str, invocation_id: str | None = None) -> None:
        """`POST /runtime/invocation/{id}/response`: for a synchronous caller, the moment it gets the result."""
        self.send_response(request_id, body, content_type, invocation_id)
        self.read_accepted()

    def send_response(self, request_id: str, body: bytes, content_type: str, invocation_id: str | None = None) -> int:
        """The first half of `post_response()`, for an event loop: send it and return the descriptor to wait on for
        its answer, which `read_accepted()` reads."""
        headers = {"Content-Type": content_type}
        if invocation_id is not None:
            headers[_INVOCATION_ID_HEADER] = invocation_id
        self._posted = f"{RUNTIME_PREFIX}/invocation/{request_id}/response"
        self._http.send_request("POST", self._posted, headers, body)
        return self._http.fileno()

    def read_accepted(self) -> None:
        """The answer to `send_response()`: 202, or `RejectedRequest` (4xx), `NoReply`, `RuntimeApiError`."""
        _accepted(self._posted, self._http.read_response())

    def post_error(
        self,
        request_id: str,
        body: bytes,
        error_type: str,
        xray_cause: bytes | None = None,
        invocation_id: str | None = None,
    ) -> None:
        """`POST /runtime/invocation/{id}/error`, with the error type header awslambdaric leaves out (platform §1.4)."""
        headers = {"Content-Type": "application/json", _ERROR_TYPE_HEADER: _error_type_header(error_type)}
        if xray_cause is not None and len(xray_cause) < _XRAY_CAUSE_MAX_BYTES:
            headers[_XRAY_CAUSE_HEADER] = xray_cause.decode("ascii")
        if invocation_id is not None:
            headers[_INVOCATION_ID_HEADER] = invocation_id
        self._post(f"{RUNTIME_PREFIX}/invocation/{request_id}/error", headers, body)

    def open_stream(self, request_id: str, content_type: str, invocation_id: str | None = None) -> StreamWriter:
        """`POST /runtime/invocation/{id}/response` in streaming mode; the head goes out now, the body chunk by chunk
        through the writer (platform §1.7)."""
        headers = {
            "Content-Type": content_type,
            _RESPONSE_MODE_HEADER: "streaming",
            "Trailer": f"{_ERROR_TYPE_HEADER}, {_ERROR_BODY_TRAILER}",
        }
        if invocation_id is not None:
            headers[_INVOCATION_ID_HEADER] = invocation_id
        path = f"{RUNTIME_PREFIX}/invocation/{request_id}/response"
        self._http.start_chunked("POST", path, headers)
        return StreamWriter(self._http, path)

    def restore_next(self) -> None:
        """`GET /runtime/restore/next` (SnapStart): Lambda takes the snapshot while this waits, and answers after the
        environment was restored from it (platform §1.6)."""
        self._http.send_request("GET", RUNTIME_PREFIX + "/restore/next")
        self._checked(RUNTIME_PREFIX + "/restore/next")

    def _checked(self, path: str, ask_again: bool = True) -> tuple[dict[str, str], bytes]:
        """The reply to a GET that waits for Lambda (woken by any signal): its headers and body; anything but 200
        means the API cannot be used."""
        response = self._http.read_response(ask_again)
        if response.status != 200:
            raise RuntimeApiError(
                f"{path.removeprefix(RUNTIME_PREFIX)} answered {response.status}: {_text(response.body)}"
            )
        return response.headers, response.body

    def post_restore_error(self, body: bytes, error_type: str) -> None:
        """`POST /runtime/restore/error` (SnapStart): an after-restore hook failed; the runtime exits after this."""
        headers = {"Content-Type": "application/json", _ERROR_TYPE_HEADER: _error_type_header(error_type)}
        self._post(RUNTIME_PREFIX + "/restore/error", headers, body)

    def post_init_error(self, body: bytes, error_type: str) -> None:
        """`POST /runtime/init/error`: the function could not start; the runtime exits after this."""
        headers = {"Content-Type": "application/json", _ERROR_TYPE_HEADER: _error_type_header(error_type)}
        self._post(RUNTIME_PREFIX + "/init/error", headers, body)

    def _post(self, path: str, headers: dict[str, str], body: bytes) -> None:
        _accepted(path, self._http.request("POST", path, headers, body))


class StreamWriter:
    """The body of a streamed response, on the wire as it is written."""

    def __init__(self, http: HttpConnection, path: str) -> None:
        self._http = http
        self._path = path

    def write(self, chunk: bytes) -> None:
        self._check_early_reply()
        self._http.send_chunk(chunk)

    def finish(self, error: tuple[str, bytes] | None = None) -> None:
        """End the stream; `error` (its type and its JSON error document) as Lambda's error trailers."""
        self._check_early_reply()
        trailers = None
        if error is not None:
            import base64

            error_type, document = error
            trailers = {
                _ERROR_TYPE_HEADER: _error_type_header(error_type),
                _ERROR_BODY_TRAILER: base64.b64encode(document).decode("ascii"),
            }
        _accepted(self._path, self._http.end_chunked(trailers))

    def _check_early_reply(self) -> None:
        """Lambda may answer before the stream ends (413: past the size limit) and stop reading: its answer is the
        stream's end, and nothing more is written on that connection."""
        early = self._http.answered_early()
        if early is not None:
            _accepted(self._path, early)
            raise RuntimeApiError(f"{self._path} answered {early.status} before the end of the stream")


def _accepted(path: str, response: Response) -> None:
    """A POST's reply: 202, or RejectedRequest (4xx: this request), or RuntimeApiError (the API is broken)."""
    if response.status == 202:
        return
    if 400 <= response.status < 500:
        raise RejectedRequest(path, response.status, response.body)
    # 500: "Container error. Non-recoverable state. Runtime should exit promptly." (platform §1.2)
    raise RuntimeApiError(f"{path} answered {response.status}: {_text(response.body)}")


class ExtensionApi:
    """The Extensions API calls of the internal extension, on a connection of its own (platform §3.1)."""

    def __init__(self, address: str) -> None:
        self._http = HttpConnection(address)
        self.extension_id = ""

    def close(self) -> None:
        self._http.close()

    def send_register(self, name: str, events: list[str]) -> None:
        """Send `POST /extension/register`; `read_registration()` reads the answer. Lambda closes registration at the
        runtime's first `/next` (platform §3.3)."""
        # Event names are fixed words (INVOKE, SHUTDOWN): no JSON library needed for this body.
        body = ('{"events": [' + ", ".join(f'"{event}"' for event in events) + "]}").encode()
        self._http.send_request("POST", EXTENSION_PREFIX + "/register", {_EXTENSION_NAME_HEADER: name}, body)

    def read_registration(self, timeout_s: float) -> None:
        """The answer to `send_register()`: the extension's identifier, or an error within `timeout_s`."""
        if not self._http.wait_readable(timeout_s):
            self._http.close()
            raise RuntimeApiError(f"/extension/register answered nothing within {timeout_s:.0f} s")
        response = self._http.read_response()
        if response.status != 200:
            raise RejectedRequest(EXTENSION_PREFIX + "/register", response.status, response.body)
        extension_id = response.headers.get(_EXTENSION_ID_HEADER.lower())
        if not extension_id:
            raise RuntimeApiError("/extension/register answered without a Lambda-Extension-Identifier")
        self.extension_id = extension_id

    def send_next(self) -> None:
        """Send `GET /extension/event/next`: the extension is ready (Lambda's init waits for it). It subscribes to
        no events, so the request is never answered."""
        self._http.send_request("GET", EXTENSION_PREFIX + "/event/next", {_EXTENSION_ID_HEADER: self.extension_id})


def parse_invocation(headers: dict[str, str], body: bytes) -> Request:
    """Build the typed invocation from `/next`'s lower-cased headers; a reply without a request id is unusable."""
    request_id = headers.get(_REQUEST_ID)
    if not request_id:
        raise RuntimeApiError("/next answered without a Lambda-Runtime-Aws-Request-Id header")
    if not (request_id.isascii() and request_id.isprintable()) or " " in request_id:
        # It goes into the request line of /response: no result could be posted for it. Refused before the handler
        # runs, so no work of this invocation is started and then lost.
        raise RuntimeApiError(f"/next answered a request id that cannot go in a request line: {request_id[:60]!r}")
    trace_id = headers.get(_TRACE_ID)
    if trace_id is not None and "\0" in trace_id:  # it becomes _X_AMZN_TRACE_ID, and no environment value holds one
        raise RuntimeApiError("/next answered a Lambda-Runtime-Trace-Id with a NUL byte")
    deadline = headers.get(_DEADLINE_MS, "")
    if not is_number(deadline):
        raise RuntimeApiError(f"/next answered a Lambda-Runtime-Deadline-Ms that is not a number: {deadline[:40]!r}")
    return Request(
        request_id=request_id,
        deadline_ms=int(deadline),
        invoked_function_arn=headers.get(_FUNCTION_ARN),
        trace_id=trace_id,
        client_context=headers.get(_CLIENT_CONTEXT),
        cognito_identity=headers.get(_COGNITO_IDENTITY),
        tenant_id=headers.get(_TENANT_ID),
        content_type=headers.get(_CONTENT_TYPE),
        invocation_id=headers.get(_INVOCATION_ID),
        body=body,
    )


def _error_type_header(error_type: str) -> str:
    """RAPID keeps only `(Runtime|Function).Name` error types (platform §1.4): exceptions go as `Function.Name`."""
    if error_type.startswith(("Runtime.", "Function.")):
        return error_type
    letters = "".join(ch for ch in error_type.rpartition(".")[2] if ch.isascii() and ch.isalpha())
    return "Function." + (letters[:1].upper() + letters[1:] if letters else "Unknown")


def _text(body: bytes) -> str:
    return body.decode("utf-8", "replace")[:500]
