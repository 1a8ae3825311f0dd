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

import time

from ._typing import overload
from .logs import runtime_logger

TYPE_CHECKING = False  # `typing` costs ~8 ms of cold start: it is for the type checker only
if TYPE_CHECKING:
    from collections import deque
    from collections.abc import Callable, Iterable, Iterator
    from typing import Any, Literal, TypeVar

    When = Literal["always", "success", "error"]
    Outcome = Literal["ok", "failed", "skipped", "timed_out"]
    F = TypeVar("F", bound=Callable[..., Any])
else:
    # `_collections`, not `collections`: the same deque, without the ~1 ms `collections` package at every cold start.
    from _collections import deque


_WHEN = ("always", "success", "error")


class DeferError(RuntimeError):
    """`defer()` was called where it cannot work: outside an invocation, or past the per-invocation limit."""


class ShutdownRequested(BaseException):
    """Raised by the SIGTERM handler to unwind the main thread; carries the work that had not run yet."""

    def __init__(self) -> None:
        super().__init__("SIGTERM")
        self.pending: list[Task] = []


class Task:
    """One piece of after-response work: a hook, a deferred call, or a shutdown hook."""

    __slots__ = ("args", "every", "fn", "is_hook", "kwargs", "name", "runs", "timeout", "when")

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

    def call(self, invocation: Invocation | None) -> Any:
        if self.is_hook:
            return self.fn(invocation)
        if hasattr(self.fn, "__await__"):  # a coroutine object handed to defer() as it is
            return self.fn
        return self.fn(*self.args, **self.kwargs)

    def close(self) -> None:
        """Close a coroutine object that will never run, so Python does not warn that it was never awaited."""
        _close_if_coroutine(self.fn)


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


class _Scope:
    """Where `defer()` collects work: open from the start of an invocation to the end of its after-response phase.

    A plain object, not a ContextVar, so that threads the handler starts can defer work too.
    """

    __slots__ = ("collected", "count", "limit")

    def __init__(self) -> None:
        self.collected: list[Task] | None = None
        self.count = 0
        self.limit = 1000


_scope = _Scope()


def defer(fn: Any, /, *args: Any, **kwargs: Any) -> None:
    """Run `fn(*args, **kwargs)` after this invocation's response has been sent.

    `fn` may be a plain function, an `async def` function, or a coroutine object. Work deferred from an
    after-response hook or deferred task runs right after it. Raises `DeferError` outside an invocation and past
    `RUNTIME_MAX_DEFERRED` tasks in one invocation.
    """
    collected = _scope.collected
    if collected is None:
        _close_if_coroutine(fn)
        raise DeferError("defer() called outside an invocation: call it from a handler or an after-response hook")
    if _scope.count >= _scope.limit:
        _close_if_coroutine(fn)
        raise DeferError(
            f"defer() called more than {_scope.limit} times in one invocation (RUNTIME_MAX_DEFERRED); "
            f"{_name_of(fn)} was not scheduled"
        )
    if not callable(fn) and not hasattr(fn, "__await__"):
        raise TypeError(f"defer() needs a callable or a coroutine, not {type(fn).__name__}")
    _scope.count += 1
    collected.append(Task(fn, args, kwargs))


class Activity:
    """What the main thread is doing, for the extension thread's watchdog to report."""

    __slots__ = ("deadline_ms", "name", "request_id")

    def __init__(self) -> None:
        self.name: str | None = None
        self.request_id: str | None = None
        self.deadline_ms: int | None = None


class PhaseRunner:
    """Runs the after-response phase of each invocation, and the shutdown phase."""

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
        _scope.limit = max_deferred

    # The invocation's scope ------------------------------------------------------------------------------------

    def begin_invocation(self, request_id: str, deadline_ms: int) -> None:
        """Start collecting `defer()` calls for a new invocation."""
        _scope.collected = []
        _scope.count = 0
        self.activity.name = "handler"
        self.activity.deadline_ms = deadline_ms
        self.activity.request_id = request_id

    def take_deferred(self) -> list[Task]:
        return _scope.collected or []

    def end_invocation(self) -> None:
        """Stop collecting `defer()` calls: the invocation and its phase are over."""
        _scope.collected = None
        self.activity.name = None
        self.activity.request_id = None
        self.activity.deadline_ms = None

    # The phase -------------------------------------------------------------------------------------------------

    def run(self, invocation: Invocation) -> PhaseReport:
        """Run deferred tasks, then hooks, within the invocation's deadline; never raises but ShutdownRequested."""
        queue: deque[Task] = deque(self.take_deferred())
        queue.extend(_due(self.registry.hooks, invocation))
        # The runtime's own tasks (the GC option's collection) alone make no summary record: one log line per
        # invocation is the user's choice, not the side effect of a setting. Their failures are still logged.
        built_in_only = not queue
        queue.extend(_due(self._extra, invocation))
        report = PhaseReport(invocation.request_id)
        if not queue:
            self.end_invocation()
            return report
        started = time.monotonic()
        try:
            self._drain(queue, invocation.deadline_ms - self.margin_ms, invocation, report)
        except ShutdownRequested as shutdown:
            shutdown.pending = list(queue)
            raise
        finally:
            report.duration_ms = (time.monotonic() - started) * 1000
            self.end_invocation()
        if self._on_report is not None and not (built_in_only and report.count("ok") == len(report.items)):
            self._on_report(report)
        return report

    def run_shutdown(self, pending: list[Task], budget_ms: int) -> PhaseReport:
        """On SIGTERM: deferred work that had not run, then `@on_shutdown` hooks, within the shutdown budget."""
        report = PhaseReport(None)
        _scope.collected = []  # work deferred now runs too, while the budget lasts
        _scope.count = 0
        try:
            self._drain(deque([*pending, *self.registry.shutdown]), time.time() * 1000 + budget_ms, None, report)
        finally:
            _scope.collected = None
        return report

    def _drain(
        self, queue: deque[Task], deadline_ms: float, invocation: Invocation | None, report: PhaseReport
    ) -> None:
        """Run the queue in order until it is empty; the work a task defers runs right after that task."""
        while queue:
            task = queue.popleft()
            children = self._run_one(task, deadline_ms - time.time() * 1000, invocation, report)
            queue.extendleft(reversed(children))

    def close(self) -> None:
        """Release the event loop of coroutine hooks, if one was made."""
        if self._async is not None:
            self._async.close()
            self._async = None

    def _run_one(self, task: Task, budget_ms: float, invocation: Invocation | None, report: PhaseReport) -> list[Task]:
        needed_ms = task.timeout * 1000 if task.timeout is not None else 0.0
        if budget_ms <= 0 or budget_ms < needed_ms:
            task.close()
            report.add(task.name, "skipped", 0.0)
            runtime_logger().warning(
                "after-response: skipped %s: %d ms left in its time budget%s",
                task.name,
                max(budget_ms, 0),
                f", it needs {needed_ms:.0f} ms" if needed_ms else "",
                extra={"hook": task.name},
            )
            return []
        _scope.collected = []
        self.activity.name = task.name
        started = time.monotonic()
        outcome: Outcome = "ok"
        try:
            result = task.call(invocation)
            if hasattr(result, "__await__"):
                timeout_s = min(budget_ms / 1000, task.timeout) if task.timeout is not None else budget_ms / 1000
                self._await(result, timeout_s)
        except ShutdownRequested:
            raise
        except TimeoutError:
            outcome = "timed_out"
            runtime_logger().warning(
                "after-response: %s timed out after %.0f ms and was cancelled",
                task.name,
                (time.monotonic() - started) * 1000,
                extra={"hook": task.name},
            )
        except BaseException as exc:  # SystemExit too: a hook cannot end the runtime (README "Failure behaviour")
            outcome = "failed"
            runtime_logger().error(
                "after-response: %s failed: %s: %s",
                task.name,
                type(exc).__name__,
                exc,
                exc_info=exc,
                extra={"hook": task.name},
            )
        finally:
            self.activity.name = None
        report.add(task.name, outcome, (time.monotonic() - started) * 1000)
        children = _scope.collected or []
        _scope.collected = []
        return children

    def _await(self, awaitable: Any, timeout_s: float) -> None:
        # asyncio costs ~30 ms to import: only functions that use coroutines pay for it. One loop for the life of the
        # process, so clients bound to it (aiohttp sessions, ...) can be reused across invocations.
        import asyncio

        if self._async is None:
            self._async = asyncio.new_event_loop()

        async def bounded() -> None:
            await asyncio.wait_for(_as_coroutine(awaitable), timeout_s)

        self._async.run_until_complete(bounded())


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
