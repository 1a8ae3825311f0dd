"""The N=16 multi-concurrency rows' handlers: 50 ms of waiting on I/O (a database call) per invocation.

`handler` awaits it (this runtime's tasks mode: every invocation a task of one event loop); `blocking` sleeps
(awslambdaric, and this runtime's forked mode: a process per invocation). A module of its own: the forked runs
import nothing of asyncio for it."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


async def handler(event: Any, context: Any) -> dict[str, bool]:
    import asyncio

    await asyncio.sleep(0.05)
    return {"ok": True}


def blocking(event: Any, context: Any) -> dict[str, bool]:
    import time

    time.sleep(0.05)
    return {"ok": True}
