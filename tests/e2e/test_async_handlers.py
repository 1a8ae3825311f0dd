"""`async def` handlers through the real bootstrap: one event loop per process for handlers and hooks."""

from __future__ import annotations

import json

from emulator.server import LambdaApiServer
from tests.conftest import StartRuntime


def invoke(api: LambdaApiServer, event: dict[str, object]) -> tuple[str, object]:
    request_id = api.submit(json.dumps(event).encode())
    result = api.result(request_id)
    api.wait_ended(request_id)
    return request_id, result.json()


def test_an_async_handler_is_awaited_on_one_loop_shared_with_the_hooks(
    api: LambdaApiServer, start: StartRuntime
) -> None:
    process = start("async_handlers.handler")
    first_id, first = invoke(api, {"hook": True})
    _, second = invoke(api, {"hook": True})
    assert isinstance(first, dict) and isinstance(second, dict)
    assert first["request_id"] == first_id
    # The same loop from one invocation to the next, and in the phase: the lock bound to it works everywhere.
    assert first["loop"] == second["loop"]
    assert [r.path.rsplit("/", 1)[1] for r in api.marks(f"hook-loop-{first['loop']}")] == [
        f"hook-loop-{first['loop']}"
    ] * 2
    assert "Traceback" not in process.output()


def test_a_sync_handler_that_returns_a_coroutine_is_awaited_too(api: LambdaApiServer, start: StartRuntime) -> None:
    start("async_handlers.returns_a_coroutine")
    request_id, result = invoke(api, {})
    assert isinstance(result, dict) and result["request_id"] == request_id


def test_an_async_handler_that_raises_is_an_error_with_the_users_frames(
    api: LambdaApiServer, start: StartRuntime
) -> None:
    start("async_handlers.handler")
    _, document = invoke(api, {"fail": True})
    assert isinstance(document, dict)
    assert (document["errorType"], document["errorMessage"]) == ("ValueError", "async failure")
    # The runtime's and asyncio's frames are left out, as awslambdaric leaves out its own.
    assert "async_handlers.py" in document["stackTrace"][0] and "asyncio" not in "".join(document["stackTrace"])
    # The hooks see no result, not the coroutine that raised.
    assert api.marks("result-after-error-NoneType") and not api.marks("result-after-error-coroutine")


def test_a_task_the_handler_leaves_running_does_not_leak_into_the_next_invocation(
    api: LambdaApiServer, start: StartRuntime
) -> None:
    process = start("async_handlers.handler")
    first_id, _ = invoke(api, {"fire_and_forget": True})
    invoke(api, {"hook": True})  # the loop runs again here: a leaked task would run now
    assert not api.marks(f"forgotten-{first_id}")
    assert f"cancelled 1 asyncio task(s) left running at the end of the phase of {first_id}" in process.output()
