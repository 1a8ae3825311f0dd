"""The streaming rows' handlers: 10 chunks 50 ms apart (streamed here; awslambdaric, which cannot stream, gets the
same data buffered), and a 10 MB stream in 1 MB chunks."""

from __future__ import annotations

import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

_CHUNK = b"x" * 1024


def ten_chunks(event: Any, context: Any) -> Iterator[bytes]:
    for index in range(10):
        if index:
            time.sleep(0.05)
        yield _CHUNK


def ten_chunks_buffered(event: Any, context: Any) -> bytes:
    parts = []
    for index in range(10):
        if index:
            time.sleep(0.05)
        parts.append(_CHUNK)
    return b"".join(parts)


_MEGABYTE = b"y" * (1024 * 1024)


def ten_megabytes(event: Any, context: Any) -> Iterator[bytes]:
    for _ in range(10):
        yield _MEGABYTE
