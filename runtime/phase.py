"""The after-response phase and the shutdown phase: the runner that runs deferred work and hooks in order, on time.

Rules (README "The after-response phase"):
- the phase starts after `POST /response` (or `/error`) returned and ends before the next `GET /next`;
- deferred tasks run first, in the order deferred, then hooks in registration order; work deferred while an item
  runs goes right after that item, so a hook sees everything the work before it recorded;
- a failing item is logged and the next one runs: the response is already with the caller and cannot change;
- before each item the remaining time (Lambda's deadline minus a safety margin) is checked: what does not fit is
  skipped and logged by name, and coroutines are cancelled when their time runs out.
"""

from __future__ import annotations

import sys
import time

from ._typing import TYPE_CHECKING
from .current import leave_if_forked_child
from .errors import ShutdownRequested, TimeLimitExpired, safe_str, user_traceback
from .invocation import Invocation
from .logs import runtime_logger

if TYPE_CHECKING:
    from collections import deque
    from collections.abc import Callable, Generator, Iterable
    from typing import Any, Literal

    from .current import Lifetime
    from .hooks import Registry, Task

    Outcome = Literal["ok", "failed", "skipped", "timed_out", "overran", "interrupted"]
    #: a phase as a generator: it hands over (awaitable, time limit in s) for its driver to await, gets the result
    Steps = Generator[tuple[Any, float | None], Any, None]
    Phase = Generator[tuple[Any, float | None], Any, "PhaseReport"]
else:
    # `_collections`, not `collections`: the same deque, without the ~1 ms `collections` package at every cold start.
    from _collections import deque


class PhaseRunner:
    """Runs the after-response phase of each invocation, and the shutdown phase.

    It knows the open invocation and the work not run yet at every moment, so that SIGTERM, wherever it lands
    (handler, POST, phase), hands the shutdown phase exactly the work that is left, each hook with its invocation.
    """

    def __init__(
        self,
        hooks: Registry,
        lifetime: Lifetime,
        margin_ms: int,
        extra: Iterable[Task] = (),
        on_report: Callable[[PhaseReport], None] | None = None,
        budget_ms: int = 0,
    ) -> None:
        self.registry = hooks
        #: the owner of the open invocation: its request, its deferred work, the watchdog's view of what runs
        self.lifetime = lifetime
        self.margin_ms = margin_ms
        #: the longest a phase may take (0: until the deadline minus the margin)
        self.budget_ms = budget_ms
        self._extra = list(extra)
        #: the runtime's own work for right after the next phase only (the init's garbage collection)
        self._upkeep: list[Callable[[], None]] = []
        self._on_report = on_report
        #: the invocation as far as it got, once SIGTERM cut it short before its phase
        self._invocation: Invocation | None = None
        #: the running phase's queue
        self._queue: deque[Task] | None = None
        #: what SIGTERM interrupted: (name, ms)
        self._interrupted: list[tuple[str, float]] = []
        #: tasks mode's shutdown: when every item must be done, whatever its invocation's deadline (ms since epoch)
        self.cutoff_ms: float | None = None

    def after_next_phase(self, fn: Callable[[], None]) -> None:
        """Run the runtime's own `fn()` once, right after the next phase, before the next `/next`: in that
        invocation's time, not in its phase's summary, which is about the function's work."""
        self._upkeep.append(fn)

    def _run_upkeep(self) -> None:
        work, self._upkeep = self._upkeep, []
        for fn in work:
            try:
                fn()
            except Exception as exc:
                runtime_logger().error("runtime: %s failed: %r", getattr(fn, "__qualname__", fn), exc, exc_info=exc)

    def cut_short(self, invocation: Invocation) -> None:
        """SIGTERM came before the phase (in the handler or the reply): the shutdown phase runs its hooks with it."""
        self._invocation = invocation

    def unrun_work(self) -> list[str]:
        """The names of the open invocation's work that has not run: what is lost if the runtime must exit now."""
        names = [task.name for task in self._queue or ()] + [task.name for task in self.lifetime.deferred.work]
        if self._queue is None and self.lifetime.is_open:
            names += [hook.name for hook in self.registry.hooks]
        return names

    # The phases -------------------------------------------------------------------------------------------------

    def run(self, invocation: Invocation) -> PhaseReport:
        """Run deferred tasks, then hooks, within the invocation's deadline; never raises but ShutdownRequested."""
        queue, built_in_only = self._due(invocation)
        if not queue and "runtime.aio" not in sys.modules and self.lifetime.deferred.close_if_done():
            # Nothing to run, and no event loop whose tasks could be left over: the common case, decided without
            # the generator (~0.8 µs of every invocation).
            self._invocation = None
            if self._upkeep:
                self._run_upkeep()
            return PhaseReport(invocation.request_id)
        return _drive(self._phase(invocation, queue, built_in_only))

    async def run_async(self, invocation: Invocation) -> PhaseReport:
        """`run()` as a task of the running event loop (tasks mode: several phases at once in one process)."""
        return await _drive_async(self._phase(invocation, *self._due(invocation)))

    def run_shutdown(self, budget_ms: int) -> PhaseReport:
        """On SIGTERM: the open invocation's work that has not run, then `@on_shutdown` hooks, within the budget.

        Hooks of an invocation SIGTERM reached before its phase (in the handler or the POST) get that invocation,
        with `delivered` False unless the POST had returned. Each item is logged as it starts, so that a log cut
        short by SIGKILL names the item that was running.
        """
        return _drive(self._shutdown(budget_ms))

    async def run_shutdown_async(self, budget_ms: float) -> PhaseReport:
        """`run_shutdown()` as a task of the running event loop (tasks mode, once every slot has stopped)."""
        return await _drive_async(self._shutdown(budget_ms))

    def _due(self, invocation: Invocation) -> tuple[deque[Task], bool]:
        """The hooks due after `invocation`, and whether the runtime's own tasks are all there is to run."""
        self._invocation = invocation  # SIGTERM during the phase: the shutdown phase runs the rest with it
        queue: deque[Task] = deque(due_hooks(self.registry.hooks, invocation, count=True))
        # The runtime's own tasks (the GC option's collection) alone make no summary record: one log line per
        # invocation is the user's choice, not the side effect of a setting. Their failures are still logged.
        built_in_only = not queue and not self.lifetime.deferred.work
        queue.extend(due_hooks(self._extra, invocation, count=True))
        return queue, built_in_only

    def _phase(self, invocation: Invocation, queue: deque[Task], built_in_only: bool) -> Phase:
        deferred = self.lifetime.deferred
        if not queue and deferred.close_if_done():  # nothing to run, the common case
            self._invocation = None
            yield from self._cancel_leftover_tasks(invocation.request_id)
            if self._upkeep:
                self._run_upkeep()
            return PhaseReport(invocation.request_id)
        # Published before the deferred work is taken: SIGTERM at any point finds each task either in the published
        # queue or still deferred (run_shutdown takes both).
        self._queue = queue
        queue.extendleft(reversed(deferred.take()))
        report = PhaseReport(invocation.request_id)
        started = time.monotonic()
        deadline_ms: float = invocation.deadline_ms - self.margin_ms
        if self.budget_ms:
            deadline_ms = min(deadline_ms, time.time() * 1000 + self.budget_ms)
        yield from self._drain_until_closed(queue, deadline_ms, invocation, report)
        report.duration_ms = (time.monotonic() - started) * 1000
        self._queue = self._invocation = None
        yield from self._cancel_leftover_tasks(invocation.request_id)
        if (
            report.items
            and self._on_report is not None
            and not (built_in_only and report.count("ok") == len(report.items))
        ):
            self._on_report(report)
        if self._upkeep:
            self._run_upkeep()
        return report

    def _shutdown(self, budget_ms: float) -> Phase:
        lifetime = self.lifetime
        invocation = self._invocation
        if invocation is None and lifetime.request is not None:
            invocation = Invocation(lifetime.request, error=ShutdownRequested(), delivered=False)
        queue: deque[Task] = deque(self._queue or ())
        if invocation is not None and self._queue is None:
            queue.extend(due_hooks(self.registry.hooks, invocation, count=True))
        queue.extendleft(reversed(lifetime.deferred.take()))
        queue.extend(self.registry.shutdown)
        report = PhaseReport(invocation.request_id if invocation is not None else None)
        for name, ms in self._interrupted:
            report.add(name, "interrupted", ms)
        self._queue = queue
        lifetime.deferred.reopen("shutdown")
        try:
            yield from self._drain_until_closed(
                queue, time.time() * 1000 + budget_ms, invocation, report, announce=True
            )
        finally:
            self._queue = self._invocation = None
            lifetime.end()
        return report

    def _cancel_leftover_tasks(self, request_id: str) -> Steps:
        """asyncio tasks the handler or the phase started and left running (fire and forget) are cancelled: they
        belong to this invocation, and would otherwise resume in the next one."""
        aio = sys.modules.get("runtime.aio")  # no event loop unless a coroutine has run
        if aio is None:
            return
        leftover = aio.leftover_tasks(self.lifetime if self.lifetime.per_task else None)
        if not leftover:
            return
        names = yield aio.cancel(leftover), None
        runtime_logger().warning(
            "after-response: cancelled %d asyncio task(s) left running at the end of the phase of %s: %s",
            len(leftover),
            request_id,
            ", ".join(names),
        )

    def close(self) -> None:
        """Release the event loop of coroutine hooks, if one was made."""
        aio = sys.modules.get("runtime.aio")
        if aio is not None:
            aio.close()

    def _drain_until_closed(
        self,
        queue: deque[Task],
        deadline_ms: float,
        invocation: Invocation | None,
        report: PhaseReport,
        announce: bool = False,
    ) -> Steps:
        """Run the queue in order until it is empty and no thread has deferred more; the work a task defers runs
        right after that task."""
        deferred = self.lifetime.deferred
        while True:
            while queue:
                task = queue.popleft()
                if announce:
                    runtime_logger().info("shutdown: running %s", task.name, extra={"hook": task.name})
                yield from self._run_one(task, deadline_ms, invocation, report)
                queue.extendleft(reversed(deferred.take()))
            if deferred.close_if_done():  # closed: a late defer() from a thread is refused, not dropped
                return
            queue.extend(deferred.take())

    def _run_one(self, task: Task, deadline_ms: float, invocation: Invocation | None, report: PhaseReport) -> Steps:
        if self.cutoff_ms is not None:  # tasks mode's shutdown: every phase ends within its budget
            deadline_ms = min(deadline_ms, self.cutoff_ms)
        started_ms = time.time() * 1000
        budget_ms = deadline_ms - started_ms
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
        #: what the item may take: its own timeout, within what is left of the phase
        allowed_ms = min(budget_ms, needed_ms) if needed_ms else budget_ms
        activity = self.lifetime.activity
        activity.name = task.name
        self.lifetime.item_deadline_ms = started_ms + allowed_ms
        started = time.monotonic()
        outcome: Outcome = "ok"
        failure: BaseException | None = None
        try:
            result = task.call(invocation)
            if hasattr(result, "__await__"):
                activity.cancel_at_ms = started_ms + allowed_ms
                yield result, allowed_ms / 1000  # awaited by the driver: `_drive` or `_drive_async`
        except ShutdownRequested:
            leave_if_forked_child()
            self._interrupted.append((task.name, (time.monotonic() - started) * 1000))
            raise
        except GeneratorExit:  # the phase is closed where it is (tasks mode's shutdown, at its budget's end)
            raise
        except TimeLimitExpired:  # the runtime's own limit, and only it: a TimeoutError the work raises is a failure
            outcome = "timed_out"
        except BaseException as exc:  # SystemExit too: a hook cannot end the runtime (README "Failure behaviour")
            outcome, failure = "failed", exc
        finally:
            activity.name = None
            activity.cancel_at_ms = None
            self.lifetime.item_deadline_ms = None
        # A child process the task forked comes back here too: it leaves, the parent goes on.
        leave_if_forked_child(failure)
        elapsed_ms = (time.monotonic() - started) * 1000
        # The logger only when there is something to say: an ok task must not import `logging` (docs/design.md).
        if failure is not None:
            runtime_logger().error(
                "after-response: %s failed: %s: %s",
                task.name,
                type(failure).__name__,
                safe_str(failure),
                exc_info=(type(failure), failure, user_traceback(failure.__traceback__)),
                extra={"hook": task.name},
            )
        elif outcome == "timed_out":
            runtime_logger().warning(
                "after-response: %s timed out after %.0f ms and was cancelled",
                task.name,
                elapsed_ms,
                extra={"hook": task.name},
            )
        elif elapsed_ms > allowed_ms:
            # It could not be stopped (sync code, or a coroutine that blocked without awaiting): the time it took
            # was taken from the work after it, or from the margin before Lambda's deadline.
            outcome = "overran"
            runtime_logger().warning(
                "after-response: %s overran %s: it took %.0f ms and could not be cancelled",
                task.name,
                f"its timeout of {needed_ms:.0f} ms"
                if needed_ms and needed_ms <= budget_ms
                else f"the phase's time ({budget_ms:.0f} ms were left before the deadline's margin)",
                elapsed_ms,
                extra={"hook": task.name},
            )
        report.add(task.name, outcome, elapsed_ms)


def log_lost_work(names: list[str]) -> None:
    """The one log line of after-response work that will not run because the Runtime API failed (the runtime must
    exit promptly: platform §1.2)."""
    if names:
        runtime_logger().error("after-response work not run because the runtime must exit: %s", names)


def _drive(phase: Phase) -> PhaseReport:
    """Run a phase in this thread: each awaitable it hands over (a coroutine item) is awaited on the process's event
    loop, its outcome sent back in (runtime.aio, and asyncio, only imported for functions that use coroutines)."""
    try:
        step = next(phase)
        from . import aio

        while True:
            try:
                result = aio.run(*step)
            except BaseException as exc:
                step = phase.throw(exc)
            else:
                step = phase.send(result)
    except StopIteration as stop:
        report: PhaseReport = stop.value
        return report


async def _drive_async(phase: Phase) -> PhaseReport:
    """Run a phase as a task of the running loop; a cancellation of that task (tasks mode's shutdown, at its
    budget's end) ends the phase where it is."""
    from asyncio import CancelledError

    from . import aio

    try:
        step = next(phase)
        while True:
            try:
                result = await aio.within(*step)
            except BaseException as exc:
                if isinstance(exc, CancelledError) and aio.being_cancelled():
                    phase.close()
                    raise
                step = phase.throw(exc)
            else:
                step = phase.send(result)
    except StopIteration as stop:
        report: PhaseReport = stop.value
        return report


def due_hooks(hooks: Iterable[Task], invocation: Invocation, count: bool = False) -> list[Task]:
    """The hooks that run after this invocation, by their `when=` and `every=`; `count`: this invocation counts
    towards `every=` (the phase's call; `runtime.testing` only asks)."""
    due = []
    for hook in hooks:
        if _applies(hook, invocation):
            if hook.runs % hook.every == 0:
                due.append(hook)
            if count:
                hook.runs += 1
    return due


def _applies(hook: Task, invocation: Invocation) -> bool:
    if hook.when == "success":
        return invocation.succeeded
    if hook.when == "error":
        return not invocation.succeeded and not invocation.suspended
    if hook.when == "ended":
        return invocation.ended
    return True


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
