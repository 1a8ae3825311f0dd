"""Streamed responses: generators (sync and async), StreamingResponse with its HTTP prelude, the writer style, an
error after the first byte, a 10 MB stream; marks on the test Runtime API's clock show when each part ran."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from marks import mark  # type: ignore[import-not-found]  # tests/functions is the task root

from runtime import Invocation, after_response
from runtime.streaming import ResponseStream, StreamingResponse, streaming


@after_response
def report(invocation: Invocation) -> None:
    if invocation.streamed is not None:
        mark(f"streamed-{invocation.streamed.chunks}-{invocation.streamed.bytes_sent}")


def slow(event: Any, context: Any) -> Iterator[bytes]:
    """Three chunks, 300 ms apart."""
    for index in range(3):
        if index:
            time.sleep(0.3)
            mark(f"slept-{index}")
        yield f"chunk {index}\n".encode()


async def slow_async(event: Any, context: Any) -> AsyncIterator[str]:
    for index in range(3):
        if index:
            await asyncio.sleep(0.3)
            mark(f"slept-{index}")
        yield f"chunk {index}\n"


def with_prelude(event: Any, context: Any) -> StreamingResponse:
    return StreamingResponse(iter([b"<p>hello</p>"]), status_code=201, headers={"x-app": "1"},
                             cookies=["a=1"], content_type="text/html")  # fmt: skip


def fails_midway(event: Any, context: Any) -> Iterator[bytes]:
    yield b"partial "
    raise ValueError("the export broke")


def fails_first(event: Any, context: Any) -> Iterator[bytes]:
    raise KeyError("no such export")
    yield b""  # a generator, still


def large(event: Any, context: Any) -> Iterator[bytes]:
    block = b"x" * (1024 * 1024)
    for _ in range(10):
        yield block


@streaming
def writer(event: Any, stream: ResponseStream, context: Any) -> None:
    stream.set_http(status_code=200, content_type="text/plain")
    stream.write("first ")
    stream.write(b"second")
    stream.close()
    mark("after-close")  # the caller has the whole response by now
    time.sleep(0.2)
    mark("after-close-end")
