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

    from .current import Lifetime


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


def event_loop() -> asyncio.AbstractEventLoop:
    """The process's event loop, made on first use."""
    return _loop()


def run(awaitable: Any, timeout_s: float | None) -> Any:
    """Await `awaitable` on the process's loop. After `timeout_s` it is cancelled and `TimeLimitExpired` raised;
    whatever it raises itself (a `TimeoutError` from its own `wait_for` too) comes out as it is."""
    return _loop().run_until_complete(within(awaitable, timeout_s))


async def within(awaitable: Any, timeout_s: float | None) -> Any:
    """`awaitable`'s result, on the running loop; cancelled after `timeout_s` (`TimeLimitExpired`)."""
    import asyncio

    from .errors import TimeLimitExpired

    task = asyncio.ensure_future(_as_coroutine(awaitable))
    try:
        await asyncio.wait((task,), timeout=timeout_s)
    except asyncio.CancelledError:  # the awaiting task itself is cancelled (tasks mode's shutdown): so is the item
        task.cancel()
        raise
    if not task.done():
        task.cancel()
        # Its `finally` blocks run now; one that ignores the cancellation is left to the leftover tasks' cancelling.
        await asyncio.wait((task,), timeout=_CANCEL_GRACE_S)
        raise TimeLimitExpired
    return task.result()


def being_cancelled() -> bool:
    """Whether the running task was cancelled from outside (tasks mode's shutdown), as opposed to a `CancelledError`
    the code it runs raised itself."""
    import asyncio

    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def result_of(awaitable: Any) -> Any:
    """Await a handler's result on the process's loop, to completion: Lambda's deadline is its time limit.

    Called from another thread while the loop runs (tasks mode: a stream sent from a slot's thread), it waits for
    the awaitable to run on the loop. From code the running loop itself runs, it cannot: that code must await."""
    loop = _loop()
    if not loop.is_running():
        return loop.run_until_complete(_as_coroutine(awaitable))
    import asyncio

    if asyncio._get_running_loop() is loop:
        _close(awaitable)
        raise RuntimeError(
            "synchronous code cannot wait for a coroutine on the event loop that runs it: in tasks mode "
            "(RUNTIME_WORKER_PROCESSES) every invocation shares that loop; await the coroutine instead"
        )
    return asyncio.run_coroutine_threadsafe(_as_coroutine(awaitable), loop).result()


def start_resident(coroutine: Any) -> asyncio.Task[Any]:
    """Start `coroutine` as a task that outlives invocations: it runs whenever the loop runs, until it ends."""
    task = _loop().create_task(coroutine)
    _state.resident.add(task)
    task.add_done_callback(_state.resident.discard)
    return task


def leftover_tasks(owner: Lifetime | None = None) -> list[asyncio.Task[Any]]:
    """The tasks still pending on the loop (started and left running): those started for `owner`'s invocation in
    tasks mode (`track_tasks`), else every one but the resident ones.

    The loop runs only while something is awaited: such a task would otherwise resume in a later invocation's phase.
    """
    if owner is not None:
        return [task for task in owner.tasks if not task.done()]
    if _state.loop is None:
        return []
    import asyncio

    return [task for task in asyncio.all_tasks(_state.loop) if not task.done() and task not in _state.resident]


async def cancel(tasks: list[asyncio.Task[Any]]) -> list[str]:
    """Cancel `tasks` and give them a second to unwind; their coroutines' names."""
    import asyncio

    for task in tasks:
        task.cancel()
    await asyncio.wait(tasks, timeout=1.0)
    return [getattr(task.get_coro(), "__qualname__", repr(task)) for task in tasks]


def track_tasks() -> None:
    """Tasks mode: each task started from now on is recorded on the lifetime of the invocation it is started for
    (its context's), so that the end of that invocation's phase cancels only its own leftovers."""
    import asyncio

    from .current import open_invocation

    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        task = asyncio.Task(coro, loop=loop, **kwargs)
        context = kwargs.get("context")
        lifetime = context.run(open_invocation) if context is not None else open_invocation()
        if lifetime is not None and lifetime.is_open:
            lifetime.tasks.add(task)
            task.add_done_callback(lifetime.tasks.discard)
        return task

    _loop().set_task_factory(factory)


def close() -> None:
    """Close the loop, if one was made (tests, and the end of the process)."""
    if _state.loop is not None:
        _state.loop.close()
        _state.loop = None
        _state.resident.clear()


async def _as_coroutine(awaitable: Any) -> Any:
    return await awaitable


def _close(awaitable: Any) -> None:
    if hasattr(awaitable, "close"):
        awaitable.close()
