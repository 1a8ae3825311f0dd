"""A function for tasks mode (RUNTIME_WORKER_PROCESSES below AWS_LAMBDA_MAX_CONCURRENCY): an `async def` handler
whose invocations interleave in one process. Each logs before and after its await (the request id of each record
is checked against the invocation's), defers work that logs too, marks its phase on the test API's clock, and can
block the loop on purpose (`block_ms`: time.sleep in async code, which the lag watch must name)."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
from typing import Any

from marks import mark  # type: ignore[import-not-found]  # tests/functions is the task root

import runtime
from runtime import DeferError, Invocation, after_response, defer, on_shutdown

log = logging.getLogger("tasks_app")


@on_shutdown
def goodbye() -> None:
    sys.stdout.write(f"shutdown hook ran in pid {os.getpid()}\n")


@after_response(when="error")
async def on_error(invocation: Invocation) -> None:
    await asyncio.to_thread(mark, f"error-hook-{invocation.request_id}-{type(invocation.error).__name__}")


async def parts(count: int) -> Any:
    for index in range(count):
        await asyncio.sleep(0.05)
        yield f"part {index} of {runtime.trace_id()}\n".encode()


async def after(ms: int, tag: str) -> None:
    await asyncio.to_thread(mark, f"phase-start-{tag}")
    log.info("deferred work of %s", tag)
    await asyncio.sleep(ms / 1000)
    await asyncio.to_thread(mark, f"phase-end-{tag}")


def from_plain_thread(results: list[str]) -> None:
    try:
        defer(print, "never")
        results.append("accepted")
    except DeferError as exc:
        results.append(str(exc))


async def handler(event: dict[str, Any], context: Any) -> Any:
    tag = context.aws_request_id
    log.info("before the await of %s", tag)
    if event.get("sleep_ms"):
        await asyncio.sleep(event["sleep_ms"] / 1000)
    if event.get("block_ms"):
        time.sleep(event["block_ms"] / 1000)  # blocks every invocation of the process: the lag watch names it
    log.info("after the await of %s", tag)
    if event.get("defer_ms") is not None:
        defer(after, event["defer_ms"], tag)
    if event.get("stream"):
        return parts(event["stream"])
    if event.get("wait_for_sigterm"):
        await asyncio.to_thread(mark, f"handler-waits-{tag}")
        await asyncio.sleep(60)
    thread_says: list[str] = []
    if event.get("defer_from_thread"):
        thread = threading.Thread(target=from_plain_thread, args=(thread_says,))
        thread.start()
        thread.join()
    return {
        "pid": os.getpid(),
        "trace_id": runtime.trace_id(),
        "env_trace_id": os.environ.get("_X_AMZN_TRACE_ID"),
        "thread_says": thread_says,
    }
