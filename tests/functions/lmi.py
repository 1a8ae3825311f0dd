"""A function for RIE's multi-concurrency (LMI) mode: it runs there as uid 993, so what it writes goes to
LMI_DIR (world-writable). It returns its pid and when the handler ran on CLOCK_MONOTONIC, which every process of
the machine shares; deferred work of `defer_ms` writes `phase-done-<request id>` when it is over."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

from runtime import defer, on_shutdown

DIR = Path(os.environ["LMI_DIR"])


@on_shutdown
def goodbye() -> None:
    sys.stdout.write(f"shutdown hook ran in pid {os.getpid()}\n")


def later(ms: int, request_id: str) -> None:
    time.sleep(ms / 1000)
    (DIR / f"phase-done-{request_id}").write_text(str(time.monotonic()))


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    started = time.monotonic()
    time.sleep(event.get("sleep_ms", 0) / 1000)
    if event.get("defer_ms"):
        defer(later, event["defer_ms"], context.aws_request_id)
    return {"pid": os.getpid(), "uid": os.getuid(), "started": started, "ended": time.monotonic()}


async def later_async(ms: int, request_id: str) -> None:
    await asyncio.sleep(ms / 1000)
    (DIR / f"phase-done-{request_id}").write_text(str(time.monotonic()))


async def async_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The same, as a coroutine: in tasks mode (RUNTIME_WORKER_PROCESSES=1) every invocation interleaves in one
    process."""
    started = time.monotonic()
    await asyncio.sleep(event.get("sleep_ms", 0) / 1000)
    if event.get("defer_ms"):
        defer(later_async, event["defer_ms"], context.aws_request_id)
    return {"pid": os.getpid(), "uid": os.getuid(), "started": started, "ended": time.monotonic()}
