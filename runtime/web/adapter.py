"""What the ASGI and WSGI adapters share: their options, the event read into a request (or passed on when it is no
HTTP request), the response shaped for the service (compressed, or made an invocation error by its status), and the
app's work handed to the after-response phase."""

from __future__ import annotations

from .. import hooks
from .._typing import TYPE_CHECKING
from . import compress as compression
from .events import (
    SOURCES,
    TEXT_MEDIA_TYPES,
    HttpRequest,
    MalformedEvent,
    PassThrough,
    UnsupportedEvent,
    lambda_response,
    parse_event,
    streaming_response,
    streams,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterable, Iterator
    from typing import Any, Literal, TypedDict

    from ..streaming import StreamingResponse

    #: `other_events=`: a path to POST them to (True: "/events"), or a function `(event, context) -> result`
    Response = tuple[int, list[tuple[str, str]], bytes]
    OtherEvents = bool | str | Callable[[Any, Any], Any] | None
    StatusCodes = str | int | Iterable[int] | None

    class Options(TypedDict, total=False):
        """The keyword arguments `Adapter` takes."""

        api_gateway_base_path: str
        text_mime_types: Iterable[str] | None
        exclude_headers: Iterable[str]
        invoke_mode: Literal["buffered", "response_stream"] | None
        compress: bool
        error_status_codes: StatusCodes
        other_events: OtherEvents


#: What a client gets when the app fails before its response is complete (text/plain), as from Mangum.
SERVER_ERROR = b"Internal Server Error"
#: Where `other_events=True` POSTs an event that is no HTTP request: Lambda Web Adapter's default path.
EVENTS_PATH = "/events"


class ErrorStatusResponse(Exception):
    """The app answered with one of the adapter's `error_status_codes`: the invocation fails, and its error message
    is the response the service would have had, as JSON (a stream's without its body)."""

    def __init__(self, response: dict[str, Any]) -> None:
        import json

        self.response = response
        super().__init__(json.dumps(response, separators=(",", ":")))


class Adapter:
    """What both adapters do with the options they share, all keyword arguments:

    `api_gateway_base_path`: the base path of a custom domain's API mapping; the app sees it as ASGI `root_path` /
    WSGI `SCRIPT_NAME`.
    `text_mime_types`: response media types sent as text (the others are base64-encoded).
    `exclude_headers`: response headers left out.
    `invoke_mode`: "response_stream" streams the response as the app sends it (default: RUNTIME_INVOKE_MODE).
    `compress`: gzip (or brotli) text-like responses for clients that accept it, streamed ones part by part.
    `error_status_codes`: statuses ("500-599", or a set) posted as invocation errors, the response in the error.
    `other_events`: what becomes of an event that is no HTTP request: an error (None), a POST of it to the app at
    a path (True: "/events"), or a call of a function `(event, context)`; the result is the invocation's.
    """

    def __init__(
        self,
        *,
        api_gateway_base_path: str = "/",
        text_mime_types: Iterable[str] | None = None,
        exclude_headers: Iterable[str] = (),
        invoke_mode: Literal["buffered", "response_stream"] | None = None,
        compress: bool = False,
        error_status_codes: StatusCodes = None,
        other_events: OtherEvents = None,
    ) -> None:
        #: stream the response as the app sends it (a function configured for response streaming)
        self.streams = streams(invoke_mode)
        self.base_path = api_gateway_base_path
        self.text_media_types = tuple(text_mime_types) if text_mime_types is not None else TEXT_MEDIA_TYPES
        self.exclude_headers = frozenset(name.lower() for name in exclude_headers)
        self.compress = bool(compress)
        self.error_status_codes = status_codes(error_status_codes)
        self.sources = SOURCES
        self.other_events: Callable[[Any, Any], Any] | None = None
        if callable(other_events):
            self.other_events = other_events
        elif other_events:
            path = EVENTS_PATH if other_events is True else str(other_events)
            if not path.startswith("/"):
                raise ValueError(f"other_events must be a path that starts with '/', not {path!r}")
            self.sources = (*SOURCES, PassThrough(path))
        self._warned_outside = False

    def __call__(self, event: Any, context: Any) -> Any:
        request = self.read(event, context)
        if request is None:
            result = self.other_events(event, context)  # type: ignore[misc]
            if hasattr(result, "__await__"):
                from .. import aio

                result = aio.result_of(result)
            return result
        return self.serve(request, event, context)

    def read(self, event: Any, context: Any) -> HttpRequest | None:
        """The event as an HTTP request; None for an event `other_events` takes (a function of the user's)."""
        try:
            request = parse_event(event, self.base_path, self.sources)
        except UnsupportedEvent as exc:
            if self.other_events is None or isinstance(exc, MalformedEvent):
                raise
            return None
        # The tenant id is Lambda's to tell (tenant isolation mode): a client's own header never reaches the app.
        request.replace_header("x-amz-tenant-id", getattr(context, "tenant_id", None))
        return request

    def serve(self, request: HttpRequest, event: Any, context: Any) -> Any:
        """The Lambda result of `request` through the app."""
        raise NotImplementedError

    def streams_to(self, request: HttpRequest) -> bool:
        """Whether `request`'s response is streamed: the adapter streams, and the service can take a stream."""
        return self.streams and request.source.can_stream

    def respond(self, request: HttpRequest, response: Response | None) -> Any:
        """The Lambda result of a whole response (status, headers, body); None: the app failed before its response
        was complete, and the client gets a 500, as from Mangum."""
        status, headers, body = response or (500, [("content-type", "text/plain; charset=utf-8")], SERVER_ERROR)
        if self.compress:
            headers, body = compression.buffered(request, status, headers, body)
        result = lambda_response(request, status, headers, body, self.text_media_types, self.exclude_headers)
        if status in self.error_status_codes and isinstance(result, dict):
            raise ErrorStatusResponse(result)
        return result

    def stream(
        self,
        request: HttpRequest,
        status: int,
        headers: list[tuple[str, str]],
        parts: Iterator[bytes] | AsyncIterator[bytes],
    ) -> StreamingResponse:
        """The Lambda result of a response whose body follows as the app sends it."""
        if status in self.error_status_codes:
            # Decided before a byte of the body is read: a stream may never end.
            raise ErrorStatusResponse({"statusCode": status, "headers": dict(headers)})
        if self.compress:
            headers, parts = compression.streamed(request, status, headers, parts)
        return streaming_response(status, headers, parts, self.exclude_headers)

    def after_response(self, name: str | Callable[[], str], fn: Any, *args: Any) -> None:
        """`fn(*args)` in the after-response phase; outside this runtime's invocations (a unit test calls the
        handler, another runtime serves it) it runs now, before returning, with one warning per adapter."""
        if not hooks.defer_or_run(name, fn, *args, warn=not self._warned_outside):
            self._warned_outside = True


def status_codes(spec: StatusCodes) -> frozenset[int]:
    """`error_status_codes` as a set: None, a status, statuses, or Lambda Web Adapter's text form ("500-599",
    "500,502-504")."""
    if spec is None:
        return frozenset()
    if isinstance(spec, int):
        items: list[Any] = [spec]
    elif isinstance(spec, str):
        items = [item.strip() for item in spec.split(",") if item.strip()]
    else:
        items = list(spec)
    codes: set[int] = set()
    for item in items:
        low, dash, high = str(item).partition("-")
        try:
            first, last = int(low), int(high if dash else low)
        except ValueError:
            raise ValueError(f"error_status_codes: {item!r} is not a status or a range such as 500-599") from None
        if not 100 <= first <= last <= 599:
            raise ValueError(f"error_status_codes: {item!r} is not within 100-599")
        codes.update(range(first, last + 1))
    return frozenset(codes)
