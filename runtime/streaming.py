"""Response streaming (platform §1.7): a handler that returns an iterator or generator of bytes or str (sync or
async) streams it; `StreamingResponse` adds the HTTP prelude Function URLs and API Gateway read (status, headers,
cookies); `@streaming` gives a handler a writer for push producers, where code after `close()` runs after the
caller has the whole response.

The response is posted as the first chunk is ready, each chunk goes out as it is produced, and the after-response
phase starts when the stream has ended: the caller has everything by then. An error after the first byte cannot
become an error document any more; it ends the stream with Lambda's error trailers.
"""

from __future__ import annotations

from .errors import ShutdownRequested

TYPE_CHECKING = False  # `typing` costs ~8 ms of cold start: it is for the type checker only
if TYPE_CHECKING:
    from collections.abc import AsyncIterable, Callable, Iterable, Iterator, Mapping
    from typing import Any

    from .api import RuntimeApi, StreamWriter
    from .invocation import Request

#: The content type of a stream that starts with an HTTP prelude (Function URLs, API Gateway streaming).
HTTP_INTEGRATION = "application/vnd.awslambda.http-integration-response"
#: The content type of a bare stream (awslambdaric's, and Node's default).
OCTET_STREAM = "application/octet-stream"
# Between the prelude and the body: 8 NUL bytes (Node's HttpResponseStream, platform §1.7).
_SEPARATOR = b"\0" * 8


class StreamingResponse:
    """`return StreamingResponse(chunks, status_code=200, headers={...}, cookies=[...], content_type=...)`: a stream
    with the HTTP prelude of Function URLs and API Gateway's streaming integration."""

    def __init__(
        self,
        body: Iterable[bytes | str] | AsyncIterable[bytes | str],
        *,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        cookies: Iterable[str] = (),
        content_type: str | None = None,
    ) -> None:
        self.body = body
        self.status_code = status_code
        self.headers = dict(headers or {})
        if content_type is not None:
            self.headers["content-type"] = content_type
        self.cookies = list(cookies)

    def prelude(self) -> bytes:
        import json

        document: dict[str, Any] = {"statusCode": self.status_code, "headers": self.headers}
        if self.cookies:
            document["cookies"] = self.cookies
        return json.dumps(document, separators=(",", ":")).encode() + _SEPARATOR


def is_stream(result: Any) -> bool:
    """Whether a handler's result is streamed: a `StreamingResponse`, or an iterator or generator (sync or async)
    that is not one of the values awslambdaric marshals (str, bytes, dict, list, ...)."""
    if isinstance(result, StreamingResponse):
        return True
    if isinstance(result, (str, bytes, bytearray, dict, list, tuple)):
        return False
    return hasattr(result, "__next__") or hasattr(result, "__anext__")


def chunks(result: Any) -> Iterator[bytes]:
    """The bytes to send, prelude first; an async iterator is driven on the process's event loop, one item at a
    time, so each chunk goes out as soon as it exists."""
    if isinstance(result, StreamingResponse):
        yield result.prelude()
        result = result.body
    if hasattr(result, "__anext__") or hasattr(result, "__aiter__"):
        from . import aio

        iterator = result.__aiter__() if hasattr(result, "__aiter__") else result
        while True:
            try:
                item = aio.result_of(iterator.__anext__())
            except StopAsyncIteration:
                return
            yield _bytes(item)
    else:
        for item in result:
            yield _bytes(item)


def _bytes(item: Any) -> bytes:
    if isinstance(item, (bytes, bytearray, memoryview)):
        return bytes(item)
    if isinstance(item, str):
        return item.encode()
    raise TypeError(f"a streamed chunk must be bytes or str, not {type(item).__name__}")


class Streamed:
    """What an invocation streamed, as hooks see it on `invocation.streamed`."""

    __slots__ = ("bytes_sent", "chunks", "error")

    def __init__(self) -> None:
        self.bytes_sent = 0
        self.chunks = 0
        #: the error that ended the stream after its first byte, if one did (the caller got Lambda's error trailers)
        self.error: BaseException | None = None

    def sent(self, chunk: bytes) -> None:
        self.chunks += 1
        self.bytes_sent += len(chunk)


class Chunks:
    """A handler's returned stream. Made in the handler's step, which makes its first chunk: an error before the
    first byte is then the handler's error, an error document as usual."""

    def __init__(self, result: Any) -> None:
        self.content_type = HTTP_INTEGRATION if isinstance(result, StreamingResponse) else OCTET_STREAM
        self._items = chunks(result)
        self._first = next(self._items, None)
        self.started = False
        self.streamed = Streamed()

    def send(self, request: Request, api: RuntimeApi, error: BaseException | None = None) -> None:
        writer = api.open_stream(request.request_id, self.content_type, request.invocation_id)
        self.started = True
        try:
            if self._first is not None:
                self._write(writer, self._first)
            for chunk in self._items:
                self._write(writer, chunk)
        except ShutdownRequested:
            raise
        except Exception as exc:
            self.streamed.error = exc
            writer.finish(_report(exc, request))
            return
        writer.finish()

    def _write(self, writer: StreamWriter, chunk: bytes) -> None:
        writer.write(chunk)
        self.streamed.sent(chunk)


def _report(error: BaseException, request: Request) -> tuple[str, bytes]:
    """The error that ended a stream: logged as an unhandled error, and its (type, document) for the trailers."""
    from . import logs
    from .errors import report_from_exception
    from .marshal import to_json

    report = report_from_exception(error, request.request_id)
    document = report.to_dict()
    logs.log_unhandled_error(document)
    return report.error_type, to_json(document)


class ResponseStream:
    """The writer a `@streaming` handler gets: `write()` chunks as they are produced, `set_http()` (before the
    first write) for the HTTP prelude, `close()` to end the response; the caller then has all of it, and the rest
    of the handler runs after the response."""

    def __init__(self, open_stream: Callable[[str], StreamWriter]) -> None:
        self._open = open_stream
        self._writer: StreamWriter | None = None
        self._http: StreamingResponse | None = None
        self.closed = False
        self.streamed = Streamed()

    @property
    def started(self) -> bool:
        return self._writer is not None

    def set_http(
        self,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        cookies: Iterable[str] = (),
        content_type: str | None = None,
    ) -> None:
        if self._writer is not None:
            raise RuntimeError("set_http() must come before the first write()")
        self._http = StreamingResponse((), status_code=status_code, headers=headers, cookies=cookies,
                                       content_type=content_type)  # fmt: skip

    def write(self, data: bytes | str) -> None:
        if self.closed:
            raise RuntimeError("write() after close(): the response is complete")
        chunk = _bytes(data)
        self._start().write(chunk)
        self.streamed.sent(chunk)

    def close(self) -> None:
        """End the response: the caller has all of it once this returns."""
        if not self.closed:
            self.closed = True
            self._start().finish()

    def send(self, request: Request, api: RuntimeApi, error: BaseException | None = None) -> None:
        """After the handler: end the stream it left open, with the error trailers if it raised after writing."""
        if error is None:
            self.close()
        elif not self.closed:
            self.closed = True
            self.streamed.error = error
            self._start().finish(_report(error, request))

    def _start(self) -> StreamWriter:
        if self._writer is None:
            self._writer = self._open(HTTP_INTEGRATION if self._http is not None else OCTET_STREAM)
            if self._http is not None:
                self._writer.write(self._http.prelude())
        return self._writer


def streaming(handler: Callable[[Any, ResponseStream, Any], Any]) -> Callable[[Any, Any], Any]:
    """`@streaming def handler(event, stream, context)`: the handler writes its response with `stream.write()` and
    ends it with `stream.close()`; what it does after `close()` runs after the caller has the response. A handler
    that returns without closing has its stream closed then."""
    handler.__runtime_streaming__ = True  # type: ignore[attr-defined]
    return handler  # type: ignore[return-value]
