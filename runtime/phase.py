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

import os
import sys
import time

from .errors import ShutdownRequested, safe_str
from .hooks import DeferScope, Task, tag_threads
from .invocation import Invocation
from .logs import runtime_logger

TYPE_CHECKING = False  # `typing` costs ~8 ms of cold start: it is for the type checker only
if TYPE_CHECKING:
    from collections import deque
    from collections.abc import Callable, Iterable, Iterator
    from typing import Literal

    from .hooks import Registry
    from .invocation import Request

    Outcome = Literal["ok", "failed", "skipped", "timed_out", "overran", "interrupted"]
else:
    # `_collections`, not `collections`: the same deque, without the ~1 ms `collections` package at every cold start.
    from _collections import deque


class Activity:
    """What the main thread is doing, for the extension thread's watchdog to report."""

    __slots__ = ("cancel_at_ms", "name", "request")

    def __init__(self) -> None:
        self.name: str | None = None
        #: the open invocation's request (its id and deadline), read as one reference by the other thread
        self.request: Request | None = None
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
        margin_ms: int,
        max_deferred: int,
        extra: Iterable[Task] = (),
        on_report: Callable[[PhaseReport], None] | None = None,
        budget_ms: int = 0,
    ) -> None:
        self.registry = hooks
        self.margin_ms = margin_ms
        #: the longest a phase may take (0: until the deadline minus the margin)
        self.budget_ms = budget_ms
        self.activity = Activity()
        self.scope = DeferScope(max_deferred)
        self._extra = list(extra)
        self._on_report = on_report
        #: the open invocation's request, from /next until its phase ends
        self._request: Request | None = None
        #: the invocation as far as it got, once the handler is done (or SIGTERM cut it short)
        self._invocation: Invocation | None = None
        #: its phase's queue, once the phase has started
        self._queue: deque[Task] | None = None
        #: what SIGTERM interrupted: (name, ms)
        self._interrupted: list[tuple[str, float]] = []
        fork_state.child = False  # this process runs the loop; a child it forks never runs a phase

    # The invocation ---------------------------------------------------------------------------------------------

    def begin_invocation(self, request: Request) -> None:
        """Start collecting `defer()` calls for a new invocation."""
        self.scope.open(request.request_id)
        self._request = request
        self._invocation = None
        self._queue = None
        self.activity.name = "handler"
        self.activity.request = request

    def cut_short(self, invocation: Invocation) -> None:
        """SIGTERM came before the phase (in the handler or the POST): the shutdown phase runs its hooks with this."""
        self._invocation = invocation

    def unrun_work(self) -> list[str]:
        """The names of the open invocation's work that has not run: what is lost if the runtime must exit now."""
        names = [task.name for task in self._queue or ()] + [task.name for task in self.scope.work]
        if self._queue is None and self._request is not None:
            names += [hook.name for hook in self.registry.hooks]
        return names

    def end_invocation(self) -> None:
        """Stop collecting `defer()` calls: the invocation and its phase are over."""
        self.scope.close()
        if self._request is not None:
            tag_threads(self._request.request_id)
        self._request = None
        self._invocation = None
        self._queue = None
        self.activity.name = None
        self.activity.request = None

    # The phases -------------------------------------------------------------------------------------------------

    def run(self, invocation: Invocation) -> PhaseReport:
        """Run deferred tasks, then hooks, within the invocation's deadline; never raises but ShutdownRequested."""
        scope = self.scope
        self._invocation = invocation
        queue: deque[Task] = deque(_due(self.registry.hooks, invocation))
        # The runtime's own tasks (the GC option's collection) alone make no summary record: one log line per
        # invocation is the user's choice, not the side effect of a setting. Their failures are still logged.
        built_in_only = not queue and not scope.work
        queue.extend(_due(self._extra, invocation))
        if not queue and scope.close_if_done():  # nothing to run, the common case
            self._cancel_leftover_tasks(invocation.request_id)
            self.end_invocation()
            return PhaseReport(invocation.request_id)
        # Published before the deferred work is taken from the scope: SIGTERM at any point finds each task either
        # in the published queue or still in the scope (run_shutdown takes both).
        self._queue = queue
        queue.extendleft(reversed(scope.take()))
        report = PhaseReport(invocation.request_id)
        started = time.monotonic()
        deadline_ms: float = invocation.deadline_ms - self.margin_ms
        if self.budget_ms:
            deadline_ms = min(deadline_ms, time.time() * 1000 + self.budget_ms)
        self._drain_until_closed(queue, deadline_ms, invocation, report)
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
        if invocation is None and self._request is not None:
            invocation = Invocation(self._request, error=ShutdownRequested(), delivered=False)
        queue: deque[Task] = deque(self._queue or ())
        if invocation is not None and self._queue is None:
            queue.extend(_due(self.registry.hooks, invocation))
        queue.extendleft(reversed(self.scope.take()))
        queue.extend(self.registry.shutdown)
        report = PhaseReport(invocation.request_id if invocation is not None else None)
        for name, ms in self._interrupted:
            report.add(name, "interrupted", ms)
        self._queue = queue
        self.scope.reopen("shutdown")
        try:
            self._drain_until_closed(queue, time.time() * 1000 + budget_ms, invocation, report, announce=True)
        finally:
            self.end_invocation()
        return report

    def _cancel_leftover_tasks(self, request_id: str) -> None:
        """asyncio tasks the handler or the phase started and left running (fire and forget) are cancelled: they
        belong to this invocation, and would otherwise resume in the next one."""
        aio = sys.modules.get("runtime.aio")  # no event loop unless a coroutine has run
        leftover = aio.cancel_leftover_tasks() if aio is not None else []
        if leftover:
            runtime_logger().warning(
                "after-response: cancelled %d asyncio task(s) left running at the end of the phase of %s: %s",
                len(leftover),
                request_id,
                ", ".join(leftover),
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
    ) -> None:
        """Run the queue in order until it is empty and no thread has deferred more; the work a task defers runs
        right after that task."""
        while True:
            while queue:
                task = queue.popleft()
                if announce:
                    runtime_logger().info("shutdown: running %s", task.name, extra={"hook": task.name})
                self._run_one(task, deadline_ms - time.time() * 1000, invocation, report)
                queue.extendleft(reversed(self.scope.take()))
            if self.scope.close_if_done():  # closed: a late defer() from a thread is refused, not dropped
                return
            queue.extend(self.scope.take())

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
                # The event loop module (and asyncio, ~30 ms) only for functions that use coroutines.
                from . import aio

                aio.run(result, timeout_s)
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


def _due(hooks: Iterable[Task], invocation: Invocation) -> Iterator[Task]:
    """The hooks that run after this invocation, by their `when=` and `every=` (counting this invocation)."""
    for hook in hooks:
        if _applies(hook, invocation):
            hook.runs += 1
            if (hook.runs - 1) % hook.every == 0:
                yield hook


def due_hooks(hooks: Iterable[Task], invocation: Invocation) -> list[Task]:
    """The hooks `_due` would run after this invocation, without counting it."""
    return [hook for hook in hooks if _applies(hook, invocation) and hook.runs % hook.every == 0]


def _applies(hook: Task, invocation: Invocation) -> bool:
    if hook.when == "success":
        return invocation.error is None
    if hook.when == "error":
        return invocation.error is not None
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
