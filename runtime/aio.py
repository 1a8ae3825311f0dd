"""The process's one asyncio event loop: `async def` handlers, coroutine hooks and deferred coroutines run on it (and
later the web bridge and streaming), so clients bound to it (aiohttp sessions, ...) survive from one invocation to the
next and into the after-response phase.

asyncio costs ~30 ms to import: only functions that use coroutines pay for it, at their first coroutine. The loop
runs only while the runtime awaits something on it; between invocations it is still.
"""

from __future__ import annotations

from ._typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio
    from typing import Any


# How long a cancelled item may take to unwind (its `finally` blocks) before the phase goes on without it.
_CANCEL_GRACE_S = 1.0


class _Loop:
    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        #: tasks that live as long as the process (an ASGI app's lifespan), not cancelled with an invocation's
        #: leftovers
        self.resident: set[asyncio.Task[Any]] = set()


_state = _Loop()


def _loop() -> asyncio.AbstractEventLoop:
    if _state.loop is None:
        import asyncio

        _state.loop = asyncio.new_event_loop()
    return _state.loop


def run(awaitable: Any, timeout_s: float) -> None:
    """Await `awaitable` on the process's loop. After `timeout_s` it is cancelled and `TimeLimitExpired` raised;
    whatever it raises itself (a `TimeoutError` from its own `wait_for` too) comes out as it is."""
    import asyncio

    from .errors import TimeLimitExpired

    loop = _loop()
    task = loop.create_task(_as_coroutine(awaitable))
    loop.run_until_complete(asyncio.wait((task,), timeout=timeout_s))
    if not task.done():
        task.cancel()
        # Its `finally` blocks run now; one that ignores the cancellation is left to cancel_leftover_tasks.
        loop.run_until_complete(asyncio.wait((task,), timeout=_CANCEL_GRACE_S))
        raise TimeLimitExpired
    task.result()


def result_of(awaitable: Any) -> Any:
    """Await a handler's result on the process's loop, to completion: Lambda's deadline is its time limit."""
    return _loop().run_until_complete(_as_coroutine(awaitable))


def start_resident(coroutine: Any) -> asyncio.Task[Any]:
    """Start `coroutine` as a task that outlives invocations: it runs whenever the loop runs, until it ends."""
    task = _loop().create_task(coroutine)
    _state.resident.add(task)
    task.add_done_callback(_state.resident.discard)
    return task


def cancel_leftover_tasks() -> list[str]:
    """Cancel the tasks still pending on the loop (started and left running); return their coroutines' names.

    The loop runs only while something is awaited: such a task would otherwise resume in a later invocation's phase.
    """
    if _state.loop is None:
        return []
    import asyncio

    leftover = [task for task in asyncio.all_tasks(_state.loop) if not task.done() and task not in _state.resident]
    if not leftover:
        return []
    for task in leftover:
        task.cancel()
    _state.loop.run_until_complete(asyncio.wait(leftover, timeout=1.0))
    return [getattr(task.get_coro(), "__qualname__", repr(task)) for task in leftover]


def close() -> None:
    """Close the loop, if one was made (tests, and the end of the process)."""
    if _state.loop is not None:
        _state.loop.close()
        _state.loop = None
        _state.resident.clear()


async def _as_coroutine(awaitable: Any) -> Any:
    return await awaitable
