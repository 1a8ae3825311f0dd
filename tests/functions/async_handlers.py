"""`async def` handlers: awaited on the process's one event loop, the same the async hooks run on."""

from __future__ import annotations

import asyncio
from typing import Any

from marks import mark  # type: ignore[import-not-found]  # tests/functions is the task root

from runtime import Invocation, after_response

_state: dict[str, Any] = {}


def _lock() -> asyncio.Lock:
    # An asyncio lock binds to the loop that first uses it: using it from another loop raises RuntimeError.
    if "lock" not in _state:
        _state["lock"] = asyncio.Lock()
    lock: asyncio.Lock = _state["lock"]
    return lock


async def handler(event: dict[str, Any], context: Any) -> Any:
    async with _lock():
        await asyncio.sleep(0)
    if event.get("fail"):
        raise ValueError("async failure")
    if event.get("fire_and_forget"):
        _state["task"] = asyncio.get_running_loop().create_task(_forgotten(context.aws_request_id))
    return {"loop": id(asyncio.get_running_loop()), "request_id": context.aws_request_id}


def returns_a_coroutine(event: Any, context: Any) -> Any:
    return handler(event, context)


async def _forgotten(request_id: str) -> None:
    await asyncio.sleep(0.05)
    mark(f"forgotten-{request_id}")


@after_response
async def hook(invocation: Invocation) -> None:
    if invocation.error is not None:
        mark(f"result-after-error-{type(invocation.result).__name__}")
    if isinstance(invocation.event, dict) and invocation.event.get("hook"):
        async with _lock():  # the handler's lock, bound to its loop: the same loop here
            mark(f"hook-loop-{id(asyncio.get_running_loop())}")
