"""Reliability round 3: the most common after-response patterns and the streamed-response faults. Marks on the test
Runtime API's clock say what ran, in which invocation, with what outcome."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from marks import mark  # type: ignore[import-not-found]  # tests/functions is the task root

from runtime import DeferError, Invocation, after_response, defer

# A module-level pool, as real functions keep one: its threads are reused by every warm invocation.
POOL = ThreadPoolExecutor(max_workers=1)


@after_response
def report(invocation: Invocation) -> None:
    event = invocation.event if isinstance(invocation.event, dict) else {}
    if event.get("hook_raises") == "sync":
        raise TimeoutError("the partner took too long (sync hook)")
    streamed = invocation.streamed
    chunks = streamed.chunks if streamed is not None else "none"
    mark(f"hook-{invocation.request_id}-{invocation.succeeded}-{invocation.delivered}-{chunks}")


@after_response(name="async_report")
async def async_report(invocation: Invocation) -> None:
    event = invocation.event if isinstance(invocation.event, dict) else {}
    if event.get("hook_raises") == "async":
        await asyncio.wait_for(asyncio.sleep(5), 0.01)  # the partner's own timeout, as httpx or aiohttp raise it


def _send_event(request_id: str) -> None:
    mark(f"deferred-{request_id}")


def _raise_timeout() -> None:
    raise TimeoutError("the partner took too long (deferred)")


async def _raise_timeout_async() -> None:
    await asyncio.wait_for(asyncio.sleep(5), 0.01)


def timeouts(event: dict[str, Any], context: Any) -> str:
    """Deferred work that raises TimeoutError itself; `hook_raises` makes a hook raise it."""
    if event.get("defer") == "sync":
        defer(_raise_timeout)
    elif event.get("defer") == "async":
        defer(_raise_timeout_async)
    return "ok"


def _defer_from_here(request_id: str) -> None:
    defer(_send_event, request_id)


def from_threads(event: dict[str, Any], context: Any) -> str:
    """`defer()` from a thread that is not the loop's, the common ways: a module-level pool, a thread started here,
    the event loop's executor, `asyncio.to_thread`."""
    request_id = context.aws_request_id
    how = str(event["how"])
    if how == "pool":
        POOL.submit(_defer_from_here, request_id).result()
    elif how == "thread":
        thread = threading.Thread(target=_defer_from_here, args=(request_id,))
        thread.start()
        thread.join()
    else:
        return "async"
    return how


async def from_async_threads(event: dict[str, Any], context: Any) -> str:
    request_id = context.aws_request_id
    if event["how"] == "run_in_executor":
        await asyncio.get_running_loop().run_in_executor(None, _defer_from_here, request_id)
    else:
        await asyncio.to_thread(_defer_from_here, request_id)
    return str(event["how"])


def _defer_later(done: threading.Event) -> None:
    done.wait(10)
    time.sleep(0.3)  # the invocation and its phase are over by now: the runtime is back in /next
    try:
        defer(_send_event, "late")
    except DeferError as exc:
        print(f"refused: {exc}", flush=True)
        mark("refused")


def late_thread(event: dict[str, Any], context: Any) -> str:
    """A thread that defers once no invocation is open: refused, with a message that says what to do."""
    done = threading.Event()
    threading.Thread(target=_defer_later, args=(done,), daemon=True).start()
    defer(done.set)
    return "ok"


# Streams ending with a BaseException ------------------------------------------------------------------------------


async def cancelled_stream(event: Any, context: Any) -> AsyncIterator[bytes]:
    yield b"one "
    yield b"two "
    task = asyncio.current_task()
    assert task is not None
    task.cancel()
    await asyncio.sleep(1)
    yield b"never"


def exiting_stream(event: Any, context: Any) -> Iterator[bytes]:
    yield b"one "
    yield b"two "
    sys.exit(3)


def interrupted_stream(event: Any, context: Any) -> Iterator[bytes]:
    yield b"one "
    yield b"two "
    raise KeyboardInterrupt


def long_stream(event: Any, context: Any) -> Iterator[bytes]:
    """40 chunks; the mark after the tenth lets a test cut the stream there."""
    for index in range(40):
        if index == 10:
            mark("ten-chunks-sent")
            time.sleep(5)
        yield b"chunk %d\n" % index


def two_chunks(event: Any, context: Any) -> Iterator[bytes]:
    yield b"x" * 1000
    mark("first-chunk-made")
    yield b"y" * 1000


# The deadline --------------------------------------------------------------------------------------------------


def past_the_phase_deadline(event: Any, context: Any) -> str:
    def slow() -> None:
        # Into the margin before the deadline: past the phase's time, not Lambda's.
        time.sleep(max(context.get_remaining_time_in_millis() - 250, 0) / 1000)

    defer(slow)
    return "ok"


def stalled_stream(event: Any, context: Any) -> Iterator[bytes]:
    yield b"first"
    time.sleep(5)  # into the deadline
    yield b"never"
