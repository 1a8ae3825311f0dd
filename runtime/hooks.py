"""The after-response phase: `@after_response` hooks, per-invocation `defer()`, `@on_shutdown`, and their runner.

Rules (README "The after-response phase"):
- the phase starts after `POST /response` (or `/error`) returned and ends before the next `GET /next`;
- deferred tasks run first, in the order deferred, then hooks in registration order; work deferred while an item
  runs goes right after that item, so a hook sees everything the work before it recorded;
- a failing item is logged and the next one runs: the response is already with the caller and cannot change;
- before each item the remaining time (Lambda's deadline minus a safety margin) is checked: what does not fit is
  skipped and logged by name, and coroutines are cancelled when their time runs out.
"""

from __future__ import annotations

import _thread
import os
import sys
import time

from ._typing import overload
from .errors import ShutdownRequested, safe_str
from .logs import runtime_logger

TYPE_CHECKING = False  # `typing` costs ~8 ms of cold start: it is for the type checker only
if TYPE_CHECKING:
    from collections import deque
    from collections.abc import Callable, Iterable, Iterator
    from typing import Any, Literal, TypeVar

    When = Literal["always", "success", "error"]
    Outcome = Literal["ok", "failed", "skipped", "timed_out", "overran", "interrupted"]
    F = TypeVar("F", bound=Callable[..., Any])
else:
    # `_collections`, not `collections`: the same deque, without the ~1 ms `collections` package at every cold start.
    from _collections import deque


_WHEN = ("always", "success", "error")


class DeferError(RuntimeError):
    """`defer()` was called where it cannot work: outside an invocation, or past the per-invocation limit."""


class Task:
    """One piece of after-response work: a hook, a deferred call, or a shutdown hook."""

    __slots__ = ("args", "every", "fn", "is_hook", "kwargs", "name", "on_skip", "runs", "timeout", "when")

    def __init__(
        self,
        fn: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        name: str | None = None,
        timeout: float | None = None,
        when: When = "always",
        every: int = 1,
        is_hook: bool = False,
        on_skip: Callable[[], None] | None = None,
    ) -> None:
        self.fn = fn
        #: an @after_response hook, called with the invocation; other tasks are called with their own arguments
        self.is_hook = is_hook
        self.args = args
        self.kwargs = kwargs or {}
        self.name = name or _name_of(fn)
        self.timeout = timeout
        self.when = when
        self.every = every
        self.runs = 0
        #: what to do instead when the task is skipped (the GC option turns automatic collection back on)
        self.on_skip = on_skip

    def call(self, invocation: Invocation | None) -> Any:
        if self.is_hook:
            return self.fn(invocation)
        if hasattr(self.fn, "__await__"):  # a coroutine object handed to defer() as it is
            return self.fn
        return self.fn(*self.args, **self.kwargs)

    def skipped(self) -> None:
        """The task will not run: close a coroutine object (no "never awaited" warning), run `on_skip`."""
        _close_if_coroutine(self.fn)
        if self.on_skip is not None:
            self.on_skip()


class Invocation:
    """The finished invocation, as after-response hooks receive it."""

    __slots__ = ("context", "deadline_ms", "delivered", "error", "event", "request_id", "result")

    def __init__(
        self,
        request_id: str,
        deadline_ms: int,
        event: Any = None,
        context: Any = None,
        result: Any = None,
        error: BaseException | None = None,
        delivered: bool = True,
    ) -> None:
        self.request_id = request_id
        self.deadline_ms = deadline_ms
        self.event = event
        self.context = context
        self.result = result
        #: the exception the handler raised (or the runtime's marshalling error); None after a success
        self.error = error
        #: False when the Runtime API refused the response (e.g. 413, too large): the caller got Lambda's error
        self.delivered = delivered

    @property
    def succeeded(self) -> bool:
        return self.error is None

    def remaining_time_in_millis(self) -> int:
        """Milliseconds until Lambda's deadline for this invocation, which the after-response phase shares."""
        return max(self.deadline_ms - int(time.time() * 1000), 0)

    def __repr__(self) -> str:
        return f"Invocation(request_id={self.request_id!r}, succeeded={self.succeeded})"


class Registry:
    """The global hooks. The module-level `registry` backs the decorators; tests may build their own."""

    def __init__(self) -> None:
        self.hooks: list[Task] = []
        self.shutdown: list[Task] = []


registry = Registry()


@overload
def after_response(fn: F, /) -> F: ...
@overload
def after_response(
    *, timeout: float | None = None, when: When = "always", every: int = 1, name: str | None = None
) -> Callable[[F], F]: ...
def after_response(
    fn: Any = None,
    /,
    *,
    timeout: float | None = None,
    when: When = "always",
    every: int = 1,
    name: str | None = None,
) -> Any:
    """Register `fn(invocation)` to run after every invocation's response, in registration order.

    `fn` may be a plain function or an `async def`. Options:
    - `timeout`: seconds the hook may take; it runs only when that much time is left before the deadline, and a
      coroutine is cancelled when it runs out;
    - `when`: "always" (default), "success" or "error": which invocations it runs after;
    - `every`: run after one invocation in `every` (e.g. 10 for a periodic flush);
    - `name`: the name logs use (default: the function's qualified name).
    """
    if when not in _WHEN:
        raise ValueError(f"when must be one of {_WHEN}, not {when!r}")
    if every < 1:
        raise ValueError(f"every must be >= 1, not {every!r}")
    if timeout is not None and timeout <= 0:
        raise ValueError(f"timeout must be > 0 seconds, not {timeout!r}")

    def register(hook: F) -> F:
        registry.hooks.append(Task(hook, name=name, timeout=timeout, when=when, every=every, is_hook=True))
        return hook

    return register(fn) if fn is not None else register


@overload
def on_shutdown(fn: F, /) -> F: ...
@overload
def on_shutdown(*, name: str | None = None) -> Callable[[F], F]: ...
def on_shutdown(fn: Any = None, /, *, name: str | None = None) -> Any:
    """Register `fn()` (plain or `async def`) to run when Lambda shuts the environment down (SIGTERM).

    Lambda grants a runtime with an internal extension 500 ms for this (§3.4); what does not fit is skipped and
    logged. Deferred work that had not run yet runs first.
    """

    def register(hook: F) -> F:
        registry.shutdown.append(Task(hook, name=name))
        return hook

    return register(fn) if fn is not None else register


# The attribute `defer()` reads on a thread object: the invocation (or "init") during which the thread was started.
_THREAD_OWNER = "_runtime_started_during"


class _Scope:
    """Where `defer()` puts work: the open invocation, from its start to the end of its after-response phase.

    A plain object, not a ContextVar, so that threads the handler starts can defer work too; a thread started
    during an earlier invocation cannot (its invocation is over), so work never runs in another invocation's phase.
    The lock makes "accept the task" and "close the scope once nothing is left" one step each: a thread's `defer()`
    is either run in this phase or refused, never accepted and then dropped.
    """

    __slots__ = ("count", "limit", "lock", "main_thread", "request_id", "work")

    def __init__(self) -> None:
        self.lock = _thread.allocate_lock()
        #: the open invocation's request id; None between invocations
        self.request_id: str | None = None
        self.work: list[Task] = []
        self.count = 0
        self.limit = 1000
        self.main_thread = _thread.get_ident()


_scope = _Scope()


def defer(fn: Any, /, *args: Any, **kwargs: Any) -> None:
    """Run `fn(*args, **kwargs)` after this invocation's response has been sent.

    `fn` may be a plain function, an `async def` function, or a coroutine object. Work deferred from an
    after-response hook or deferred task runs right after it. Raises `DeferError` outside an invocation, from a
    thread started during an invocation that is over, and past `RUNTIME_MAX_DEFERRED` tasks in one invocation.
    """
    if not callable(fn) and not hasattr(fn, "__await__"):
        raise TypeError(f"defer() needs a callable or a coroutine, not {type(fn).__name__}")
    owner = _thread_owner()
    with _scope.lock:
        request_id = _scope.request_id
        if request_id is None:
            problem = "defer() called outside an invocation: call it from a handler or an after-response hook"
        elif owner is not None and owner != request_id:
            problem = (
                f"defer() called from a thread started during {_describe_owner(owner)}, which is over: "
                f"{_name_of(fn)} would run in another invocation's phase; defer it from that invocation"
            )
        elif _scope.count >= _scope.limit:
            problem = (
                f"defer() called more than {_scope.limit} times in one invocation (RUNTIME_MAX_DEFERRED); "
                f"{_name_of(fn)} was not scheduled"
            )
        else:
            _scope.count += 1
            _scope.work.append(Task(fn, args, kwargs))
            return
    _close_if_coroutine(fn)
    raise DeferError(problem)


def _thread_owner() -> str | None:
    """The invocation during which the calling thread was started, if it is not the loop's thread."""
    if _thread.get_ident() == _scope.main_thread:
        return None
    threading = sys.modules.get("threading")  # no `threading`, no thread that could have been tagged
    if threading is None:
        return None
    owner: str | None = getattr(threading.current_thread(), _THREAD_OWNER, None)
    return owner


def _describe_owner(owner: str) -> str:
    return "init" if owner == "init" else f"invocation {owner}"


def tag_threads(owner: str) -> None:
    """Mark every running thread not marked yet as started during `owner` (an invocation that ends now, or init)."""
    threading = sys.modules.get("threading")
    if threading is None or threading.active_count() < 2:
        return
    for thread in threading.enumerate():
        if not hasattr(thread, _THREAD_OWNER):
            setattr(thread, _THREAD_OWNER, owner)


class Activity:
    """What the main thread is doing, for the extension thread's watchdog to report."""

    __slots__ = ("cancel_at_ms", "deadline_ms", "name", "request_id")

    def __init__(self) -> None:
        self.name: str | None = None
        self.request_id: str | None = None
        self.deadline_ms: int | None = None
        #: when the runtime itself cancels the running item (a coroutine with a time limit); None for sync work
        self.cancel_at_ms: float | None = None


class PhaseRunner:
    """Runs the after-response phase of each invocation, and the shutdown phase.

    It knows the open invocation and the work not run yet at every moment, so that SIGTERM, wherever it lands
    (handler, POST, phase), hands the shutdown phase exactly the work that is left, each hook with its invocation.
    """

    def __init__(
        self,
        hooks: Registry,
        margin_ms: int = 200,
        max_deferred: int = 1000,
        extra: Iterable[Task] = (),
        on_report: Callable[[PhaseReport], None] | None = None,
    ) -> None:
        self.registry = hooks
        self.margin_ms = margin_ms
        self.activity = Activity()
        self._extra = list(extra)
        self._on_report = on_report
        self._async: Any = None
        #: the invocation whose phase has not ended yet
        self._invocation: Invocation | None = None
        #: its phase's queue, once the phase has started
        self._queue: deque[Task] | None = None
        #: what SIGTERM interrupted: (name, ms)
        self._interrupted: list[tuple[str, float]] = []
        _scope.limit = max_deferred
        fork_state.child = False  # this process runs the loop; a child it forks never runs a phase

    # The invocation's scope ------------------------------------------------------------------------------------

    def begin_invocation(self, invocation: Invocation) -> None:
        """Start collecting `defer()` calls for a new invocation."""
        # No lock: the scope is closed, and only threads started before now could race, which defer() refuses.
        _scope.work = []
        _scope.count = 0
        _scope.request_id = invocation.request_id
        self._invocation = invocation
        self._queue = None
        self.activity.name = "handler"
        self.activity.deadline_ms = invocation.deadline_ms
        self.activity.request_id = invocation.request_id

    def take_deferred(self) -> list[Task]:
        """The work deferred since the last call, in order."""
        if not _scope.work:  # read without the lock: what a thread adds now is taken by the next call
            return []
        with _scope.lock:
            work, _scope.work = _scope.work, []
        return work

    def unrun_work(self) -> list[str]:
        """The names of the open invocation's work that has not run: what is lost if the runtime must exit now."""
        names = [task.name for task in self._queue or ()] + [task.name for task in _scope.work]
        if self._queue is None and self._invocation is not None:
            names += [hook.name for hook in self.registry.hooks]
        return names

    def end_invocation(self) -> None:
        """Stop collecting `defer()` calls: the invocation and its phase are over."""
        if _scope.request_id is not None:  # the phase closes the scope itself once nothing is left
            with _scope.lock:
                _scope.request_id = None
                _scope.work = []
        if self._invocation is not None:
            tag_threads(self._invocation.request_id)
        self._invocation = None
        self._queue = None
        self.activity.name = None
        self.activity.request_id = None
        self.activity.deadline_ms = None

    # The phase -------------------------------------------------------------------------------------------------

    def run(self, invocation: Invocation) -> PhaseReport:
        """Run deferred tasks, then hooks, within the invocation's deadline; never raises but ShutdownRequested."""
        queue: deque[Task] = deque(_due(self.registry.hooks, invocation))
        # The runtime's own tasks (the GC option's collection) alone make no summary record: one log line per
        # invocation is the user's choice, not the side effect of a setting. Their failures are still logged.
        built_in_only = not queue and not _scope.work
        queue.extend(_due(self._extra, invocation))
        if not queue:
            with _scope.lock:
                idle = not _scope.work
                if idle:  # nothing to run (the common case): close the scope and be done
                    _scope.request_id = None
            if idle:
                self.end_invocation()
                return PhaseReport(invocation.request_id)
        # Published before the deferred work is taken from the scope: SIGTERM at any point finds each task either
        # in the published queue or still in the scope (run_shutdown takes both).
        self._invocation = invocation
        self._queue = queue
        queue.extendleft(reversed(self.take_deferred()))
        report = PhaseReport(invocation.request_id)
        started = time.monotonic() if queue else 0.0
        self._drain_until_closed(queue, invocation.deadline_ms - self.margin_ms, invocation, report)
        if report.items:
            report.duration_ms = (time.monotonic() - started) * 1000
            self._cancel_leftover_tasks(invocation.request_id)
        self.end_invocation()
        if (
            report.items
            and self._on_report is not None
            and not (built_in_only and report.count("ok") == len(report.items))
        ):
            self._on_report(report)
        return report

    def run_shutdown(self, budget_ms: int) -> PhaseReport:
        """On SIGTERM: the open invocation's work that has not run, then `@on_shutdown` hooks, within the budget.

        Hooks of an invocation SIGTERM reached before its phase (in the handler or the POST) get that invocation,
        with `delivered` False unless the POST had returned. Each item is logged as it starts, so that a log cut
        short by SIGKILL names the item that was running.
        """
        invocation = self._invocation
        queue: deque[Task] = deque(self._queue or ())
        if invocation is not None and self._queue is None:
            queue.extend(_due(self.registry.hooks, invocation))
        queue.extendleft(reversed(self.take_deferred()))
        queue.extend(self.registry.shutdown)
        report = PhaseReport(invocation.request_id if invocation is not None else None)
        for name, ms in self._interrupted:
            report.add(name, "interrupted", ms)
        self._queue = queue
        with _scope.lock:  # work deferred now runs too, while the budget lasts
            if _scope.request_id is None:
                _scope.request_id = "shutdown"
        try:
            self._drain_until_closed(queue, time.time() * 1000 + budget_ms, invocation, report, announce=True)
        finally:
            self.end_invocation()
        return report

    def _drain_until_closed(
        self,
        queue: deque[Task],
        deadline_ms: float,
        invocation: Invocation | None,
        report: PhaseReport,
        announce: bool = False,
    ) -> None:
        """Run the queue in order until it is empty and no thread has deferred more; the work a task defers runs
        right after that task."""
        while True:
            while queue:
                task = queue.popleft()
                if announce:
                    runtime_logger().info("shutdown: running %s", task.name, extra={"hook": task.name})
                self._run_one(task, deadline_ms - time.time() * 1000, invocation, report)
                queue.extendleft(reversed(self.take_deferred()))
            with _scope.lock:
                if not _scope.work:
                    _scope.request_id = None  # closed: a late defer() from a thread is refused, not dropped
                    return
            queue.extend(self.take_deferred())

    def close(self) -> None:
        """Release the event loop of coroutine hooks, if one was made."""
        if self._async is not None:
            self._async.close()
            self._async = None

    def _run_one(self, task: Task, budget_ms: float, invocation: Invocation | None, report: PhaseReport) -> None:
        needed_ms = task.timeout * 1000 if task.timeout is not None else 0.0
        if budget_ms <= 0 or budget_ms < needed_ms:
            task.skipped()
            report.add(task.name, "skipped", 0.0)
            runtime_logger().warning(
                "after-response: skipped %s: %d ms left in its time budget%s",
                task.name,
                max(budget_ms, 0),
                f", it needs {needed_ms:.0f} ms" if needed_ms else "",
                extra={"hook": task.name},
            )
            return
        self.activity.name = task.name
        started = time.monotonic()
        outcome: Outcome = "ok"
        failure: BaseException | None = None
        try:
            result = task.call(invocation)
            if hasattr(result, "__await__"):
                timeout_s = min(budget_ms / 1000, task.timeout) if task.timeout is not None else budget_ms / 1000
                self.activity.cancel_at_ms = time.time() * 1000 + timeout_s * 1000
                self._await(result, timeout_s)
        except ShutdownRequested:
            if fork_state.child:
                leave_forked_child()
            self._interrupted.append((task.name, (time.monotonic() - started) * 1000))
            raise
        except TimeoutError:
            outcome = "timed_out"
        except BaseException as exc:  # SystemExit too: a hook cannot end the runtime (README "Failure behaviour")
            outcome, failure = "failed", exc
        finally:
            self.activity.name = None
            self.activity.cancel_at_ms = None
        if fork_state.child:  # a child process the task forked comes back here too: it leaves, the parent goes on
            leave_forked_child(failure)
        elapsed_ms = (time.monotonic() - started) * 1000
        # The logger only when there is something to say: an ok task must not import `logging` (docs/design.md).
        if failure is not None:
            runtime_logger().error(
                "after-response: %s failed: %s: %s",
                task.name,
                type(failure).__name__,
                safe_str(failure),
                exc_info=failure,
                extra={"hook": task.name},
            )
        elif outcome == "timed_out":
            runtime_logger().warning(
                "after-response: %s timed out after %.0f ms and was cancelled",
                task.name,
                elapsed_ms,
                extra={"hook": task.name},
            )
        elif task.timeout is not None and elapsed_ms > task.timeout * 1000:
            # It could not be stopped (sync code, or a coroutine that blocked without awaiting): the time it took
            # was taken from the work after it.
            outcome = "overran"
            runtime_logger().warning(
                "after-response: %s overran its timeout of %.0f ms: it took %.0f ms and could not be cancelled",
                task.name,
                task.timeout * 1000,
                elapsed_ms,
                extra={"hook": task.name},
            )
        report.add(task.name, outcome, elapsed_ms)

    def _await(self, awaitable: Any, timeout_s: float) -> None:
        # asyncio costs ~30 ms to import: only functions that use coroutines pay for it. One loop for the life of the
        # process, so clients bound to it (aiohttp sessions, ...) can be reused across invocations.
        import asyncio

        if self._async is None:
            self._async = asyncio.new_event_loop()

        async def bounded() -> None:
            await asyncio.wait_for(_as_coroutine(awaitable), timeout_s)

        self._async.run_until_complete(bounded())

    def _cancel_leftover_tasks(self, request_id: str) -> None:
        """Cancel asyncio tasks the phase's coroutines started and left running (fire and forget).

        The loop runs only during phases: such a task would otherwise go on in the next invocation's phase, with
        that invocation's request id in its logs.
        """
        if self._async is None:
            return
        import asyncio

        leftover = [task for task in asyncio.all_tasks(self._async) if not task.done()]
        if not leftover:
            return
        for task in leftover:
            task.cancel()
        self._async.run_until_complete(asyncio.wait(leftover, timeout=1.0))
        runtime_logger().warning(
            "after-response: cancelled %d asyncio task(s) left running at the end of the phase of %s: %s",
            len(leftover),
            request_id,
            ", ".join(_name_of(task.get_coro()) for task in leftover),
        )


class _ForkState:
    """Whether this process is a child the handler or a hook forked (set by `os.register_at_fork`: no system call
    on the hot path, where comparing `os.getpid()` would be one per check)."""

    child = False


fork_state = _ForkState()


def _mark_child() -> None:
    fork_state.child = True


os.register_at_fork(after_in_child=_mark_child)


def leave_forked_child(error: BaseException | None = None) -> None:
    """In a child process the handler or a hook forked, returning into the runtime ends the child.

    Call it only when `fork_state.child` is set. Only the process that fetched an invocation may post its result or
    run its phase: a child that posted would answer for the parent (403 for the parent's real result) and run every
    hook twice. A child leaving through `sys.exit()` exits with its code, as it would without the runtime; one that
    returns or raises exits at once (as `multiprocessing`'s children do) with 0 or 1.
    """
    if isinstance(error, SystemExit):
        raise error
    sys.stderr.write(
        f"a forked child (pid {os.getpid()}) returned into the runtime; it exits without posting or running "
        "after-response work, which belong to its parent\n"
    )
    sys.stderr.flush()
    sys.stdout.flush()
    os._exit(0 if error is None else 1)


async def _as_coroutine(awaitable: Any) -> Any:
    return await awaitable


def _due(hooks: Iterable[Task], invocation: Invocation) -> Iterator[Task]:
    """The hooks that run after this invocation, by their `when=` and `every=`."""
    for hook in hooks:
        if hook.when == "success" and invocation.error is not None:
            continue
        if hook.when == "error" and invocation.error is None:
            continue
        hook.runs += 1
        if (hook.runs - 1) % hook.every == 0:
            yield hook


class PhaseReport:
    """What one after-response phase did: each item's name, outcome and duration."""

    __slots__ = ("duration_ms", "items", "request_id")

    def __init__(self, request_id: str | None) -> None:
        self.request_id = request_id
        self.items: list[tuple[str, Outcome, float]] = []
        self.duration_ms = 0.0

    def add(self, name: str, outcome: Outcome, duration_ms: float) -> None:
        self.items.append((name, outcome, duration_ms))

    def count(self, outcome: Outcome) -> int:
        return sum(1 for _, result, _ in self.items if result == outcome)


def _name_of(fn: Any) -> str:
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    if isinstance(name, str):
        module = getattr(fn, "__module__", None)
        return f"{module}.{name}" if module and module not in ("__main__", "builtins") else name
    return repr(fn)


def _close_if_coroutine(fn: Any) -> None:
    if hasattr(fn, "__await__") and hasattr(fn, "close"):
        fn.close()
