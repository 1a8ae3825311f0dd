"""Run a WSGI app (Flask, Django, ...) as a Lambda handler, with the response's `close()` in the phase.

A WSGI server calls the response iterable's `close()` once the client has the response; Flask's `call_on_close`
callbacks and Django's `request_finished` signal run there. This adapter returns the response first and hands
`close()` to the after-response phase, so they run after the caller has the response.
"""

from __future__ import annotations

import io
import sys

from .. import hooks, logs
from .._typing import TYPE_CHECKING
from .adapter import Adapter

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from types import TracebackType
    from typing import Any, Unpack

    from .adapter import Options, Response
    from .events import HttpRequest

    ExcInfo = tuple[type[BaseException], BaseException, TracebackType] | tuple[None, None, None] | None
    # Loose on purpose: frameworks type the environ and start_response each their own way.
    WSGIApp = Callable[[Any, Any], Iterable[bytes]]

# Carried on the environ under their own HTTP names, not as HTTP_ variables (PEP 3333).
_CGI_HEADERS = {"content-type": "CONTENT_TYPE", "content-length": "CONTENT_LENGTH"}


class WSGIHandler(Adapter):
    """`handler = WSGIHandler(app)`: a Lambda handler for API Gateway (REST and HTTP APIs), Function URLs, ALB and
    Lambda@Edge. The options (`api_gateway_base_path`, the app's `SCRIPT_NAME`; `text_mime_types`, `exclude_headers`,
    `invoke_mode`, `compress`, `error_status_codes`, `other_events`) are `Adapter`'s.
    """

    def __init__(self, app: WSGIApp, **options: Unpack[Options]) -> None:
        super().__init__(**options)
        self.app = app

    def serve(self, request: HttpRequest, event: Any, context: Any) -> Any:
        response = _Response()
        result: Iterable[bytes] | None = None
        rest: Iterator[bytes] | None = None
        try:
            result = self.app(environ(request, event, context), response.start_response)
            parts = iter(result)
            if self.streams_to(request):
                first = next(parts, b"")  # start_response has been called once the first part exists
                if response.status is not None:
                    rest = _parts(first, parts, lambda: self._close_later(result))
                else:
                    response.write(first)
            if rest is None:
                for chunk in parts:
                    response.write(chunk)
        except Exception as exc:
            logs.runtime_logger().error("wsgi: the app raised before its response was complete: %r", exc, exc_info=exc)
            response.fail()
            _close_now(result)
        else:
            if rest is not None:
                return self._stream(request, response, result, rest)
            if response.status is None:
                logs.runtime_logger().error("wsgi: the app returned without calling start_response()")
                response.fail()
            self._close_later(result)
        return self.respond(request, response.value())

    def _stream(self, request: HttpRequest, response: _Response, result: Any, rest: Iterator[bytes]) -> Any:
        """The response streamed: the rest of its parts go out as the app yields them, and close() is handed to the
        phase after the last one; at once if the stream is refused before it starts (`rest` would never end)."""
        assert response.status is not None
        try:
            return self.stream(request, response.status, response.headers, rest)
        except Exception:
            self._close_later(result)
            raise

    def _close_later(self, result: Iterable[bytes]) -> None:
        close = getattr(result, "close", None)
        if close is not None:
            self.after_response(hooks.name_of(close), close)


def _close_now(result: Iterable[bytes] | None) -> None:
    close = getattr(result, "close", None)
    if close is None:
        return
    try:
        close()
    except Exception as exc:
        logs.runtime_logger().error("wsgi: the response's close() failed: %r", exc, exc_info=exc)


def _parts(first: bytes, rest: Iterator[bytes], then: Callable[[], None]) -> Iterator[bytes]:
    """The response's parts, then `then()`: once the stream has ended (or its reader stopped), never before."""
    try:
        if first:
            yield first
        for part in rest:
            if part:
                yield part
    finally:
        then()


def environ(request: HttpRequest, event: Any, context: Any) -> dict[str, Any]:
    """The WSGI environ of `request` (PEP 3333: text as "bytes in latin-1")."""
    server_name, server_port = request.server
    env: dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": _native(request.root_path),
        "PATH_INFO": _native(request.route_path),
        "QUERY_STRING": request.query_string,
        "SERVER_NAME": server_name,
        "SERVER_PORT": str(server_port),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": request.client or "127.0.0.1",
        "CONTENT_LENGTH": str(len(request.body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": request.scheme,
        "wsgi.input": io.BytesIO(request.body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "aws.event": event,
        "aws.context": context,
        # apig-wsgi's keys, for apps that come from it.
        "apig_wsgi.full_event": event,
        "apig_wsgi.context": context,
        "apig_wsgi.request_context": event.get("requestContext"),
    }
    for name, value in request.headers:
        if name in _CGI_HEADERS:
            if name == "content-type":
                env["CONTENT_TYPE"] = _native(value)
            continue
        key = "HTTP_" + name.upper().replace("-", "_")
        value = _native(value)
        if key in env:  # a header sent more than once (ALB's multi-value mode)
            value = env[key] + ("; " if key == "HTTP_COOKIE" else ",") + value
        env[key] = value
    return env


class _Response:
    def __init__(self) -> None:
        self.status: int | None = None
        self.headers: list[tuple[str, str]] = []
        self.chunks: list[bytes] = []
        self.failed = False

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: ExcInfo = None
    ) -> Callable[[bytes], object]:
        # Nothing is sent before the app is done, so an error page may replace a started response (PEP 3333).
        if self.status is not None and not exc_info:
            raise RuntimeError("wsgi: start_response() called a second time without exc_info")
        self.status = int(status.split(None, 1)[0])
        self.headers = list(headers)
        return self.write

    def write(self, chunk: bytes) -> None:
        if chunk:
            self.chunks.append(bytes(chunk))

    def fail(self) -> None:
        self.failed = True

    def value(self) -> Response | None:
        """(status, headers, body); None when the app failed before its response was complete."""
        if self.failed or self.status is None:
            return None
        return self.status, self.headers, b"".join(self.chunks)


def _native(text: str) -> str:
    """A WSGI "native string": the UTF-8 bytes of `text`, each as one latin-1 character."""
    return text if text.isascii() else text.encode().decode("latin-1")
