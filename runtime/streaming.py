"""Response streaming (platform §1.7): a handler that returns an iterator or generator of bytes or str (sync or
async) streams it; `StreamingResponse` adds the HTTP prelude Function URLs and API Gateway read (status, headers,
cookies); `@streaming` gives a handler a writer for push producers, where code after `close()` runs after the
caller has the whole response.

The response is posted as the first chunk is ready, each chunk goes out as it is produced, and the after-response
phase starts when the stream has ended: the caller has everything by then. An error after the first byte cannot
become an error document any more; it ends the stream with Lambda's error trailers. Both kinds of stream are
replies (reply.py): the loop sends them as it sends any other.
"""

from __future__ import annotations

from ._typing import TYPE_CHECKING
from .api import RejectedRequest
from .errors import ShutdownRequested
from .marshal import to_json
from .reply import Reply, deliver, refused, unhandled

if TYPE_CHECKING:
    from collections.abc import AsyncIterable, Callable, Generator, Iterable, Mapping
    from typing import Any

    from .api import StreamWriter
    from .reply import Channel

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


def chunks(result: Any) -> Generator[bytes, None, None]:
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

    __slots__ = ("bytes_sent", "chunks", "complete", "error")

    def __init__(self) -> None:
        self.bytes_sent = 0
        self.chunks = 0
        #: the error that ended the stream after its first byte, if one did (the caller got Lambda's error trailers,
        #: or nothing more when SIGTERM or the API cut it)
        self.error: BaseException | None = None
        #: whether the stream was ended (with or without error trailers) and Lambda took it
        self.complete = False

    def sent(self, chunk: bytes) -> None:
        self.chunks += 1
        self.bytes_sent += len(chunk)


class ReturnedStream(Reply):
    """A handler's returned stream. Made in the handler's step, which makes its first chunk: an error before the
    first byte is then the handler's error, an error document as usual."""

    streamed: Streamed
    name = "the response stream (the handler's generator)"

    def __init__(self, result: Any) -> None:
        self.content_type = HTTP_INTEGRATION if isinstance(result, StreamingResponse) else OCTET_STREAM
        self._items = chunks(result)
        self._first = next(self._items, None)
        self.streamed = Streamed()

    def send(self, channel: Channel) -> bool:
        out = _StreamOut(channel, self.content_type, self.streamed)
        try:
            chunk = self._first
            while chunk is not None and out.write(chunk):
                # The producer's own failures, told apart from the API's (which `out` raises).
                try:
                    chunk = next(self._items, None)
                except ShutdownRequested:
                    raise
                except BaseException as exc:  # SystemExit, KeyboardInterrupt, CancelledError too: the stream ends
                    self.error = exc
                    break
        finally:
            self._items.close()  # the generator's `finally` runs now, whatever ended the stream
        return out.finish(self.error)

    def interrupted(self, shutdown: ShutdownRequested) -> None:
        self.error = self.streamed.error = shutdown


class ResponseStream(Reply):
    """The writer a `@streaming` handler gets: `write()` chunks as they are produced, `set_http()` (before the
    first write) for the HTTP prelude, `close()` to end the response; the caller then has all of it, and the rest
    of the handler runs after the response. It is also the invocation's reply: `send()` ends what the handler left
    open."""

    streamed: Streamed
    name = "the response stream (the handler's writer)"

    def __init__(self, channel: Channel) -> None:
        self._channel = channel
        self._out: _StreamOut | None = None
        self._http: StreamingResponse | None = None
        self._delivered: bool | None = None
        self.streamed = Streamed()

    @property
    def started(self) -> bool:
        return self._out is not None

    def set_http(
        self,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        cookies: Iterable[str] = (),
        content_type: str | None = None,
    ) -> None:
        if self._out is not None:
            raise RuntimeError("set_http() must come before the first write()")
        self._http = StreamingResponse((), status_code=status_code, headers=headers, cookies=cookies,
                                       content_type=content_type)  # fmt: skip

    def write(self, data: bytes | str) -> None:
        if self._delivered is not None:
            raise RuntimeError("write() after close(): the response is complete")
        # After the API refused the stream (logged once) what follows has nowhere to go: dropped, not the
        # handler's error.
        self._start().write(_bytes(data))

    def close(self) -> None:
        """End the response: the caller has all of it once this returns."""
        if self._delivered is None:
            self._delivered = self._start().finish(None)

    def send(self, channel: Channel) -> bool:
        """After the handler: end the stream it left open, with the error trailers if it raised after writing."""
        if self._delivered is None:
            self._delivered = self._start().finish(self.error)
        return self._delivered

    def interrupted(self, shutdown: ShutdownRequested) -> None:
        self.error = self.streamed.error = shutdown

    def _start(self) -> _StreamOut:
        if self._out is None:
            http = self._http
            self._out = _StreamOut(self._channel, HTTP_INTEGRATION if http is not None else OCTET_STREAM, self.streamed)
            if http is not None:
                self._out.write(http.prelude(), counted=False)
        return self._out


class _StreamOut:
    """One streamed `POST /response` as it goes out: what was sent is counted; the API's refusal (a 4xx, even one
    that comes before the body ends) stops it, and nothing is written after that, no trailers either."""

    __slots__ = ("_channel", "_streamed", "_writer")

    def __init__(self, channel: Channel, content_type: str, streamed: Streamed) -> None:
        self._channel = channel
        self._streamed = streamed
        self._writer: StreamWriter | None = None
        try:
            self._writer = channel.open_stream(content_type)
        except RejectedRequest as exc:
            refused(exc)

    def write(self, chunk: bytes, counted: bool = True) -> bool:
        """Send a chunk; False once the API refused the stream (the chunk had nowhere to go)."""
        if self._writer is None:
            return False
        try:
            self._writer.write(chunk)
        except RejectedRequest as exc:
            refused(exc)
            self._writer = None
            return False
        if counted:
            self._streamed.sent(chunk)
        return True

    def finish(self, error: BaseException | None) -> bool:
        """End the stream, with the error trailers for `error`; True once Lambda took it."""
        self._streamed.error = error
        trailers = None
        if error is not None:  # logged even when the stream has nowhere to go any more
            report = unhandled(error, self._channel.request_id)
            trailers = (report.error_type, to_json(report.to_dict()))
        writer = self._writer
        if writer is None:
            return False
        self._streamed.complete = deliver(lambda: writer.finish(trailers))
        return self._streamed.complete


def streaming(handler: Callable[[Any, ResponseStream, Any], Any]) -> Callable[[Any, Any], Any]:
    """`@streaming def handler(event, stream, context)`: the handler writes its response with `stream.write()` and
    ends it with `stream.close()`; what it does after `close()` runs after the caller has the response. A handler
    that returns without closing has its stream closed then."""
    handler.__runtime_streaming__ = True  # type: ignore[attr-defined]
    return handler  # type: ignore[return-value]
