"""A function for the soak test: counts every deferred task and hook run, and reports the process's resources."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from runtime import Invocation, after_response, defer

counts = {"handled": 0, "deferred": 0, "async_deferred": 0, "hook": 0, "async_hook": 0}


def _deferred(n: int) -> None:
    counts["deferred"] += 1


async def _async_deferred() -> None:
    await asyncio.sleep(0)
    counts["async_deferred"] += 1


def handler(event: dict[str, Any], context: Any) -> Any:
    if event.get("report"):
        status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
        return {
            **counts,
            "rss_kb": int(status["VmRSS"].split()[0]),
            "fds": len(os.listdir("/proc/self/fd")),
            "threads": int(status["Threads"]),  # the kernel's count: `threading` does not see `_thread` threads
        }
    counts["handled"] += 1
    defer(_deferred, event.get("n", 0))
    defer(_async_deferred)
    return {"n": event.get("n")}


@after_response
def hook(invocation: Invocation) -> None:
    if not (isinstance(invocation.event, dict) and invocation.event.get("report")):
        counts["hook"] += 1


@after_response
async def async_hook(invocation: Invocation) -> None:
    if not (isinstance(invocation.event, dict) and invocation.event.get("report")):
        counts["async_hook"] += 1
