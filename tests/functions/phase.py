"""After-response scenarios: hooks and deferred work that put marks on the test Runtime API's clock."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import time
from typing import Any

from marks import mark, mark_when_main_thread_blocks  # type: ignore[import-not-found]  # tests/functions is the task root

from runtime import Invocation, after_response, defer, on_shutdown

logger = logging.getLogger("phase")


class Cycle:
    """Garbage only the cycle collector can free; says so when it is freed."""

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        mark("collected")


def handler(event: dict[str, Any], context: Any) -> Any:
    for name in event.get("defer", []):
        defer(mark, f"deferred-{name}")
    if event.get("nested"):
        defer(parent)
    if event.get("defer_async"):
        defer(async_mark, "async-deferred")
        defer(async_mark("coroutine-object"))
    if event.get("defer_slow"):
        defer(time.sleep, event["defer_slow"])
        mark_when_main_thread_blocks("sleep", "slow-deferred-sleeping")  # once the main thread is in that sleep
        defer(mark, "after-slow")
    if event.get("defer_forever"):
        defer(defer_again, 0)
    if event.get("garbage"):
        Cycle()
    if event.get("sleep_until_ms_left") is not None:
        while context.get_remaining_time_in_millis() > event["sleep_until_ms_left"]:
            time.sleep(0.01)
    mark("handler-return")
    if event.get("fail"):
        raise ValueError("handler failed")
    return {"ok": True, "gc_enabled": gc.isenabled()}


def parent() -> None:
    mark("parent")
    defer(mark, "child")


def defer_again(depth: int) -> None:
    defer(defer_again, depth + 1)


async def async_mark(name: str) -> None:
    await asyncio.sleep(0.01)
    mark(name)


@after_response
def first(invocation: Invocation) -> None:
    outcome = "ok" if invocation.succeeded else type(invocation.error).__name__
    mark(f"first-start-{outcome}")
    event = invocation.event if isinstance(invocation.event, dict) else {}
    time.sleep(event.get("hook_sleep", 0))
    if event.get("hook_raises"):
        raise RuntimeError("hook failure")
    if event.get("hook_exits"):
        sys.exit(5)
    logger.warning("first hook ran for %s", invocation.request_id)
    mark("first-end")


@after_response
async def second(invocation: Invocation) -> None:
    event = invocation.event if isinstance(invocation.event, dict) else {}
    await asyncio.sleep(event.get("async_sleep", 0))
    mark("second")


@after_response(timeout=0.5)
def needs_half_a_second(invocation: Invocation) -> None:
    mark("needs-half-a-second")


@after_response(when="error")
def on_error_only(invocation: Invocation) -> None:
    mark("error-only")


@after_response(every=2)
def every_other(invocation: Invocation) -> None:
    mark("every-other")


@on_shutdown
def closing() -> None:
    mark("shutdown-hook")
