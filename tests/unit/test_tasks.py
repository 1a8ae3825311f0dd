"""Tasks mode's parts in one process: which handlers may share the loop, the settings, and each invocation's own
lifetime (its `defer()` scope, its log ids, its phase, its leftover tasks) while several are open at once."""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from runtime import aio
from runtime.config import Config, ConfigError
from runtime.context import FunctionInfo
from runtime.current import Lifetime, _state, open_invocation, request_ids, serve_tasks, trace_id
from runtime.hooks import DeferError, Registry, defer
from runtime.invocation import Invocation, Request
from runtime.phase import PhaseRunner
from runtime.streaming import streaming
from runtime.tasks import async_entry
from runtime.web import ASGIHandler


@pytest.fixture(autouse=True)
def fresh_loop() -> Iterator[None]:
    aio.close()
    yield
    aio.close()
    _state.tasks_mode = False


def entry(handler: Any) -> Any:
    return async_entry(handler, 1, 4)


async def async_handler(event: Any, context: Any) -> str:
    return "ok"


def sync_handler(event: Any, context: Any) -> str:
    return "ok"


def test_coroutine_handlers_share_the_loop_and_others_are_refused_saying_why() -> None:
    assert entry(async_handler) is async_handler

    @functools.wraps(async_handler)
    def wrapped(event: Any, context: Any) -> Any:  # a decorator's sync wrapper that returns the coroutine
        return async_handler(event, context)

    assert entry(wrapped) is wrapped

    class Callable:
        async def __call__(self, event: Any, context: Any) -> str:
            return "ok"

    instance = Callable()
    assert entry(instance) is instance

    async def app(scope: Any, receive: Any, send: Any) -> None:
        pass

    bridge = ASGIHandler(app, lifespan="off")
    assert entry(bridge) == bridge.__runtime_async__
    said = r"RUNTIME_WORKER_PROCESSES=1 with AWS_LAMBDA_MAX_CONCURRENCY=4 .* sync_handler is synchronous .* Make it"
    with pytest.raises(ConfigError, match=said + r" `async def`, or unset RUNTIME_WORKER_PROCESSES"):
        entry(sync_handler)
    with pytest.raises(ConfigError, match=r"the @streaming handler .* return an async generator instead"):
        entry(streaming(lambda event, stream, context: None))


def config(**settings: str) -> Config:
    concurrency = settings.pop("concurrency", None)
    return Config(
        "app.handler",
        "127.0.0.1:9001",
        FunctionInfo(),
        settings,
        max_concurrency=int(concurrency) if concurrency else None,
    )


@pytest.mark.parametrize(
    ("concurrency", "processes", "expected"),
    [("16", "", (16, 1)), ("16", "1", (1, 16)), ("16", "3", (3, 6)), ("4", "4", (4, 1)), ("", "2", (1, 1))],
)
def test_processes_and_slots(concurrency: str, processes: str, expected: tuple[int, int]) -> None:
    settings = {"RUNTIME_WORKER_PROCESSES": processes} if processes else {}
    made = config(concurrency=concurrency, **settings)
    assert (made.processes, made.slots) == expected


def test_settings_tasks_mode_cannot_take() -> None:
    with pytest.raises(ConfigError, match=r"RUNTIME_WORKER_PROCESSES \(5\) must not be more than .* \(4\)"):
        config(concurrency="4", RUNTIME_WORKER_PROCESSES="5")
    with pytest.raises(ConfigError, match="RUNTIME_GC=after_response needs one invocation per process"):
        config(concurrency="4", RUNTIME_WORKER_PROCESSES="1", RUNTIME_GC="after_response")
    assert config(concurrency="4", RUNTIME_WORKER_PROCESSES="4", RUNTIME_GC="after_response").slots == 1


def request(request_id: str) -> Request:
    return Request(request_id, int(time.time() * 1000) + 60_000, trace_id=f"Root={request_id}")


def test_each_task_works_for_its_own_invocation_and_a_bare_thread_for_none() -> None:
    serve_tasks()
    registry = Registry()
    ran: dict[str, list[str]] = {"a": [], "b": []}
    seen: dict[str, Any] = {}

    async def invocation(name: str, wait_s: float) -> None:
        runner = PhaseRunner(registry, Lifetime(100, per_task=True), margin_ms=0)
        runner.lifetime.begin(request(name))
        defer(lambda: ran[name].append(f"deferred in {request_ids()[0]}"))
        await asyncio.sleep(wait_s)  # the other invocation runs meanwhile
        seen[name] = (
            request_ids()[0],
            trace_id(),
            await asyncio.to_thread(lambda: open_invocation() is runner.lifetime),
        )
        bare: list[BaseException] = []
        thread = threading.Thread(target=lambda: _defer_into(bare))
        thread.start()
        thread.join()
        seen[f"{name}-thread"] = bare
        await runner.run_async(Invocation(runner.lifetime.request, event={}))  # type: ignore[arg-type]
        runner.lifetime.end()

    async def both() -> None:
        await asyncio.gather(invocation("a", 0.05), invocation("b", 0.0))

    aio.event_loop().run_until_complete(both())
    assert ran == {"a": ["deferred in a"], "b": ["deferred in b"]}
    assert seen["a"] == ("a", "Root=a", True) and seen["b"] == ("b", "Root=b", True)
    for name in ("a", "b"):
        [error] = seen[f"{name}-thread"]
        assert isinstance(error, DeferError) and "contextvars.copy_context().run" in str(error)
    assert request_ids() == (None, None)  # the test itself works for no invocation


def _defer_into(errors: list[BaseException]) -> None:
    try:
        defer(print, "never")
    except DeferError as exc:
        errors.append(exc)


def test_the_end_of_a_phase_cancels_only_its_own_invocations_leftover_tasks() -> None:
    serve_tasks()
    aio.track_tasks()
    registry = Registry()
    leftovers: dict[str, asyncio.Task[None]] = {}

    async def invocation(name: str, phase_after_s: float) -> None:
        runner = PhaseRunner(registry, Lifetime(100, per_task=True), margin_ms=0)
        runner.lifetime.begin(request(name))
        leftovers[name] = asyncio.ensure_future(asyncio.sleep(60))  # fire and forget
        await asyncio.sleep(phase_after_s)
        await runner.run_async(Invocation(runner.lifetime.request, event={}))  # type: ignore[arg-type]
        runner.lifetime.end()

    async def both() -> None:
        first = asyncio.ensure_future(invocation("a", 0.0))
        second = asyncio.ensure_future(invocation("b", 0.3))
        await first
        # a's phase is over: its task cancelled, b's (still in its handler) left alone
        assert leftovers["a"].cancelled() and not leftovers["b"].done()
        await second

    aio.event_loop().run_until_complete(both())
    assert leftovers["b"].cancelled()


def test_sync_code_waiting_on_the_running_loop_is_told_to_await() -> None:
    async def inside() -> None:
        aio.result_of(asyncio.sleep(0))

    with pytest.raises(RuntimeError, match="await the coroutine instead"):
        aio.event_loop().run_until_complete(inside())

    async def from_a_thread() -> float:
        return await asyncio.to_thread(aio.result_of, asyncio.sleep(0.01, result=1.5))

    assert aio.event_loop().run_until_complete(from_a_thread()) == 1.5
