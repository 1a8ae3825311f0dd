"""The adoption round: a client bound to the event loop made by an `@on_init` hook and used by an async handler, a
hook and deferred work; hooks and deferred work that fail (their logged traces). Marks on the test Runtime API's
clock say what ran, and when.

`ADOPTION_CLIENT_AT_IMPORT` makes the client at import, as functions do today (no event loop runs there);
`ADOPTION_INIT_FAILS` makes the init hook raise.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from marks import mark  # type: ignore[import-not-found]  # tests/functions is the task root

from runtime import Invocation, after_response, defer, on_init


class LoopBoundClient:
    """Stands in for `aiohttp.ClientSession`: it binds to the event loop running when it is made (RuntimeError "no
    running event loop" where none runs), and refuses to be used on another loop."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()

    async def get(self, what: str) -> str:
        if asyncio.get_running_loop() is not self.loop:
            raise RuntimeError("the client is used on another event loop than the one it was made on")
        await asyncio.sleep(0)
        return what


CLIENTS: dict[str, LoopBoundClient] = {}

if os.environ.get("ADOPTION_CLIENT_AT_IMPORT"):
    CLIENTS["db"] = LoopBoundClient()


@on_init
def first() -> None:
    mark("init-first")


@on_init
async def open_client() -> None:
    if os.environ.get("ADOPTION_INIT_FAILS"):
        raise ConnectionError("the database is unreachable")
    CLIENTS["db"] = LoopBoundClient()
    mark("init-client")


async def use_client(label: str) -> None:
    mark(await CLIENTS["db"].get(label))


async def handler(event: dict[str, Any], context: Any) -> str:
    """Uses the client made at init, and defers a coroutine that uses it too; `fail` makes a hook or deferred work
    raise."""
    request_id = context.aws_request_id
    defer(use_client, f"deferred-{request_id}")
    if event.get("fail") == "deferred":
        defer(failing_deferred)
    return await CLIENTS["db"].get(f"handled-{request_id}")


def sync_handler(event: Any, context: Any) -> dict[str, Any]:
    return {"client": "db" in CLIENTS}


@after_response
async def hook(invocation: Invocation) -> None:
    if isinstance(invocation.event, dict):  # not under awslambdaric's sync handler test
        await use_client(f"hook-{invocation.request_id}")


@after_response
def failing_hook(invocation: Invocation) -> None:
    if isinstance(invocation.event, dict) and invocation.event.get("fail") == "sync hook":
        raise ValueError("the sync hook failed")


@after_response
async def failing_async_hook(invocation: Invocation) -> None:
    if isinstance(invocation.event, dict) and invocation.event.get("fail") == "async hook":
        await asyncio.sleep(0)
        raise ValueError("the async hook failed")


def failing_deferred() -> None:
    raise ValueError("the deferred call failed")


mark("module-imported")
