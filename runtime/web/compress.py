"""Response compression for the web adapters (`compress=True`): gzip, or brotli when the `brotli` package is
importable, for clients that accept it; text-like media types only; a buffered body over `MIN_SIZE` bytes, and a
streamed one part by part (each part flushed, so that a server-sent event reaches the client when it is sent).

Lambda Web Adapter 1.0 compresses buffered responses only (`AWS_LWA_ENABLE_COMPRESSION`); docs/web.md compares.
"""

from __future__ import annotations

import zlib

from .._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from .events import HttpRequest

#: A buffered body smaller than this goes out as it is: compressing it saves less than the encoding costs.
MIN_SIZE = 1024
#: brotli's quality for responses made per request (11, its default, is meant for static files: ~20x slower).
BROTLI_QUALITY = 5
#: Compressed: the text-like media types, and any `+json`/`+xml` type (images, video and archives already are).
COMPRESSIBLE = (
    "text/",
    "application/json",
    "application/javascript",
    "application/xml",
    "application/x-ndjson",
    "application/wasm",
    "image/svg+xml",
)
#: Statuses without a body to compress (1xx, 204, 304).
_NO_BODY = frozenset((204, 304))


class Encoder:
    """One response's compressor: `part()` for each part (flushed), then `end()`."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        if coding == "br":
            import brotli

            self._brotli = brotli.Compressor(quality=BROTLI_QUALITY)
        else:
            self._gzip = zlib.compressobj(6, zlib.DEFLATED, 31)  # 31: the gzip container

    def part(self, data: bytes) -> bytes:
        if self.coding == "br":
            return bytes(self._brotli.process(data)) + bytes(self._brotli.flush())
        return self._gzip.compress(data) + self._gzip.flush(zlib.Z_SYNC_FLUSH)

    def end(self) -> bytes:
        if self.coding == "br":
            return bytes(self._brotli.finish())
        return self._gzip.flush()

    def whole(self, data: bytes) -> bytes:
        if self.coding == "br":
            import brotli

            return bytes(brotli.compress(data, quality=BROTLI_QUALITY))
        return self.part(data) + self.end()


def coding_for(request: HttpRequest, status: int, headers: list[tuple[str, str]]) -> str | None:
    """The content coding for this response ("br" or "gzip"), or None when it goes out as it is."""
    if status < 200 or status in _NO_BODY or request.method == "HEAD":
        return None
    header = {name.lower(): value for name, value in headers}
    if header.get("content-encoding", "identity").strip().lower() not in ("", "identity"):
        return None  # the app encoded it itself
    if "no-transform" in header.get("cache-control", "").lower():
        return None
    media_type = header.get("content-type", "").split(";", 1)[0].strip().lower()
    if not (media_type.startswith(COMPRESSIBLE) or media_type.endswith(("+json", "+xml"))):
        return None
    return accepted(request.header("accept-encoding"))


def accepted(accept_encoding: str | None) -> str | None:
    """The coding the client prefers among the ones offered here (RFC 9110 §12.5.3: q-values, `*`, `q=0` refuses);
    brotli before gzip at equal weight, and only when the `brotli` package is importable."""
    if not accept_encoding:
        return None
    weights: dict[str, float] = {}
    for item in accept_encoding.split(","):
        name, _, parameters = item.partition(";")
        weight = 1.0
        key, _, value = parameters.strip().partition("=")
        if key.strip().lower() == "q":
            try:
                weight = float(value)
            except ValueError:
                weight = 0.0
        weights[name.strip().lower()] = weight
    offered = ("br", "gzip") if _has_brotli() else ("gzip",)
    best = max(offered, key=lambda coding: (weights.get(coding, weights.get("*", 0.0)), coding == "br"))
    return best if weights.get(best, weights.get("*", 0.0)) > 0 else None


def buffered(
    request: HttpRequest, status: int, headers: list[tuple[str, str]], body: bytes
) -> tuple[list[tuple[str, str]], bytes]:
    """(headers, body), compressed when the client accepts it, the type is text-like and the body is big enough."""
    if len(body) < MIN_SIZE:
        return headers, body
    coding = coding_for(request, status, headers)
    if coding is None:
        return headers, body
    compressed = Encoder(coding).whole(body)
    if len(compressed) >= len(body):
        return headers, body
    return _encoded_headers(headers, coding, len(compressed)), compressed


def streamed(
    request: HttpRequest, status: int, headers: list[tuple[str, str]], parts: Iterator[bytes] | AsyncIterator[bytes]
) -> tuple[list[tuple[str, str]], Iterator[bytes] | AsyncIterator[bytes]]:
    """(headers, parts) of a streamed response (a WSGI iterable's parts, or an ASGI app's body), each part compressed
    and flushed as it comes."""
    coding = coding_for(request, status, headers)
    if coding is None:
        return headers, parts
    encoder = Encoder(coding)
    encoded = _encode_async(encoder, parts) if hasattr(parts, "__anext__") else _encode_sync(encoder, parts)  # type: ignore[arg-type]
    return _encoded_headers(headers, coding, None), encoded


def _encode_sync(encoder: Encoder, parts: Iterator[bytes]) -> Iterator[bytes]:
    for part in parts:
        if part:
            yield encoder.part(part)
    yield encoder.end()


async def _encode_async(encoder: Encoder, parts: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    async for part in parts:
        if part:
            yield encoder.part(part)
    yield encoder.end()


def _encoded_headers(headers: list[tuple[str, str]], coding: str, length: int | None) -> list[tuple[str, str]]:
    """The response's headers once its body is encoded: Content-Encoding, Content-Length for the new body (none for
    a stream), Accept-Encoding added to Vary (caches keep one copy per coding), and a strong ETag made weak (the
    bytes differ from the ones it named; RFC 9110 §8.8.1)."""
    out: list[tuple[str, str]] = []
    vary = None
    for name, value in headers:
        key = name.lower()
        if key == "content-length":
            continue
        if key == "vary":
            vary = value
            continue
        if key == "etag" and value.startswith('"'):
            value = "W/" + value
        out.append((name, value))
    varies = [item.strip() for item in (vary or "").split(",") if item.strip()]
    if "*" not in varies and "accept-encoding" not in (item.lower() for item in varies):
        varies.append("accept-encoding")
    out.append(("vary", ", ".join(varies)))
    out.append(("content-encoding", coding))
    if length is not None:
        out.append(("content-length", str(length)))
    return out


class _Brotli:
    #: whether `brotli` is importable, once asked (a failed import searches sys.path again each time)
    importable: bool | None = None


def _has_brotli() -> bool:
    if _Brotli.importable is None:
        try:
            import brotli  # noqa: F401
        except ImportError:
            _Brotli.importable = False
        else:
            _Brotli.importable = True
    return _Brotli.importable
