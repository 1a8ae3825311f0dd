"""The open invocation, and the one owner of its lifetime: from its `/next` reply to the end of its after-response
phase.

What belongs to one invocation while it is open lives on its `Lifetime`: the request (the id log records carry, the
trace id X-Ray SDKs read, the deadline), where `defer()` puts work, and what the main thread is doing, for the
watchdog. `begin()` opens it and `end()` closes it; nothing else sets or clears them. `open_invocation()` answers
"which invocation is open" for whichever thread asks: a `defer()` from a pool thread joins it, since pool threads are
reused by design. In tasks mode (runtime/tasks.py: one process, several invocations at once) each invocation's
lifetime is a context variable of its task instead: the tasks it starts and `asyncio.to_thread()` carry it, a thread
that does not carry its context belongs to no invocation.

The fork guard lives here too: the process that serves is the one that fetched the invocation; a child the handler
or a hook forked is not, and leaves when it returns into the runtime (`leave_if_forked_child`).
"""

from __future__ import annotations

import _thread
import os
import sys
import time
from _contextvars import ContextVar

from ._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

    from .hooks import Task
    from .invocation import Request


class DeferError(RuntimeError):
    """`defer()` was called where it cannot work: while no invocation is open, or past the per-invocation limit."""


class Activity:
    """What the main thread is doing, for the extension thread's watchdog to report."""

    __slots__ = ("cancel_at_ms", "name", "request")

    def __init__(self) -> None:
        self.name: str | None = None
        #: the open invocation's request (its id and deadline), read as one reference by the other thread
        self.request: Request | None = None
        #: when the runtime itself cancels the running item (a coroutine with a time limit); None for sync work
        self.cancel_at_ms: float | None = None


class Deferred:
    """Where `defer()` puts the open invocation's work, from its start to the end of its after-response phase.

    The lock makes "accept the task" and "close once nothing is left" one step each: a thread's `defer()` is either
    run in this phase or refused, never accepted and then dropped.
    """

    __slots__ = ("count", "label", "limit", "lock", "work")

    def __init__(self, limit: int) -> None:
        self.lock = _thread.allocate_lock()
        #: what the work belongs to (a request id, or "shutdown"); None while closed
        self.label: str | None = None
        self.work: list[Task] = []
        self.count = 0
        self.limit = limit

    def open(self, label: str) -> None:
        with self.lock:
            self.work = []
            self.count = 0
            self.label = label

    def take(self) -> list[Task]:
        """The work deferred since the last call, in order."""
        if not self.work:  # read without the lock: what a thread adds now is taken by the next call
            return []
        with self.lock:
            work, self.work = self.work, []
        return work

    def close_if_done(self) -> bool:
        """Close if nothing deferred is waiting; a later `defer()` is then refused."""
        with self.lock:
            if self.work:
                return False
            self.label = None
            return True

    def close(self) -> list[Task]:
        """Close now; returns what was deferred and not taken (lost unless the caller runs it)."""
        with self.lock:
            work, self.work = self.work, []
            self.label = None
        return work

    def reopen(self, label: str) -> None:
        """Open again if closed (the shutdown phase: work deferred during it runs too, while the budget lasts)."""
        with self.lock:
            if self.label is None:
                self.work = []
                self.label = label

    def add(self, task: Task) -> None:
        with self.lock:
            if self.label is None:
                problem = not_open_message()
            elif self.count >= self.limit:
                problem = (
                    f"defer() called more than {self.limit} times in one invocation (RUNTIME_MAX_DEFERRED); "
                    f"{task.name} was not scheduled"
                )
            else:
                self.count += 1
                self.work.append(task)
                return
        raise DeferError(problem)


NOT_OPEN = (
    "defer() called while no invocation is open (at init, or after the invocation and its after-response phase "
    "ended): call it from a handler, an after-response hook or deferred work, or from a thread while the "
    "invocation it works for is still open; in a unit test, call the handler through runtime.testing.invoke()"
)


class Lifetime:
    """The one owner of an invocation's lifetime in this process: `begin()` at `/next`'s reply, `end()` once its
    after-response phase is over. One per loop, or per slot in tasks mode (`per_task`: the open one is a context
    variable of the slot's task); `open_invocation()` finds the open one."""

    __slots__ = ("activity", "deferred", "item_deadline_ms", "per_task", "request", "tasks")

    def __init__(self, max_deferred: int, per_task: bool = False) -> None:
        self.activity = Activity()
        self.deferred = Deferred(max_deferred)
        self.request: Request | None = None
        #: when the running after-response item must be done (its timeout or the phase's deadline); None outside it
        self.item_deadline_ms: float | None = None
        #: one of several invocations a process serves at once (tasks mode)
        self.per_task = per_task
        #: tasks mode: the asyncio tasks started for this invocation that have not ended (runtime/tasks.py)
        self.tasks: set[Any] = set()

    def begin(self, request: Request) -> None:
        self.request = request
        self.deferred.open(request.request_id)
        self.activity.name = "handler"
        self.activity.request = request
        if self.per_task:
            # The environment is the process's: no trace id of one invocation in it (runtime.trace_id() gives it).
            _task_lifetime.set(self)
        else:
            _trace_id(request.trace_id)
            _state.open = self

    def end(self) -> list[Task]:
        """Close the invocation; returns deferred work nobody took (the caller names it as lost)."""
        lost = self.deferred.close()
        self.request = None
        self.item_deadline_ms = None
        self.activity.name = None
        self.activity.request = None
        return lost

    @property
    def is_open(self) -> bool:
        return self.request is not None


class _State:
    """The lifetime `defer()`, the log records and `phase_time_left()` look at."""

    __slots__ = ("open", "tasks_mode")

    def __init__(self) -> None:
        self.open: Lifetime | None = None
        #: this process serves several invocations at once (runtime/tasks.py)
        self.tasks_mode = False


_state = _State()
#: tasks mode: the lifetime of the invocation the running task (or a thread carrying its context) works for
_task_lifetime: ContextVar[Lifetime | None] = ContextVar("runtime_invocation", default=None)


def open_invocation() -> Lifetime | None:
    """The lifetime of the invocation this thread (or task) works for, open or not (None before the first one)."""
    return _task_lifetime.get() or _state.open


def work_for(lifetime: Lifetime) -> None:
    """Tasks mode: the running task (and what it starts) works for `lifetime` (the shutdown phase's)."""
    _task_lifetime.set(lifetime)


def serve_tasks() -> None:
    """This process serves several invocations at once: a lifetime is found by its task's context only."""
    _state.tasks_mode = True


def not_open_message() -> str:
    """Why `defer()` found no open invocation."""
    if _state.tasks_mode:
        return NOT_OPEN + (
            "; in tasks mode (RUNTIME_WORKER_PROCESSES) a thread works for an invocation only if it carries the "
            "invocation's context: asyncio.to_thread() does, for threading.Thread or run_in_executor() run the "
            "function through contextvars.copy_context().run"
        )
    return NOT_OPEN


def trace_id() -> str | None:
    """The X-Ray trace id (`Root=...;Parent=...;Sampled=...`) of the invocation this code works for; None outside one.
    In tasks mode the only way to it: `_X_AMZN_TRACE_ID` belongs to the whole process (README "Multi-concurrency")."""
    lifetime = open_invocation()
    request = lifetime.request if lifetime is not None else None
    return request.trace_id if request is not None else None


def handler_returned() -> bool:
    """Whether the open invocation's handler has returned (its reply is going out, or its phase runs), or no
    invocation is open."""
    lifetime = open_invocation()
    return lifetime is None or not lifetime.is_open or lifetime.activity.name != "handler"


def request_ids() -> tuple[str | None, str | None]:
    """The open invocation's request id and tenant id, for log records (None, None between invocations)."""
    lifetime = open_invocation()
    request = lifetime.request if lifetime is not None else None
    return (request.request_id, request.tenant_id) if request is not None else (None, None)


def phase_time_left() -> float | None:
    """Seconds the running after-response item may still take (its `timeout=` or the phase's deadline, whichever
    comes first), for work that must bound its own waits (a telemetry flush); None outside the phase."""
    lifetime = open_invocation()
    deadline_ms = lifetime.item_deadline_ms if lifetime is not None else None
    if deadline_ms is None:
        return None
    return max(deadline_ms - time.time() * 1000, 0.0) / 1000


def _trace_id(trace_id: str | None) -> None:
    # X-Ray SDKs read the trace id of the current invocation from the environment (platform §5.7).
    if trace_id is not None:
        os.environ["_X_AMZN_TRACE_ID"] = trace_id
    else:
        os.environ.pop("_X_AMZN_TRACE_ID", None)


# The fork guard ------------------------------------------------------------------------------------------------


class _Process:
    """Whether this process is a child that user code forked (set by `os.register_at_fork`: no system call on the
    hot path, where comparing `os.getpid()` would be one per check). The worker pool's own forks are not: each
    worker says so with `serve_in_this_process()`."""

    forked_child = False


def _mark_child() -> None:
    _Process.forked_child = True


os.register_at_fork(after_in_child=_mark_child)


def serve_in_this_process() -> None:
    """This process serves invocations (a worker the pool forked): its returns into the runtime are its own."""
    _Process.forked_child = False


def leave_if_forked_child(error: BaseException | None = None) -> None:
    """Call when user code (the handler, a hook, deferred work) returned or raised `error` into the runtime.

    Only the process that fetched an invocation may post its result or run its phase: a child that posted would
    answer for the parent (403 for the parent's real result) and run every hook twice. A child leaving through
    `sys.exit()` exits with its code, as it would without the runtime; one that returns or raises exits at once (as
    `multiprocessing`'s children do) with 0 or 1.
    """
    if not _Process.forked_child:
        return
    if isinstance(error, SystemExit):
        raise error
    sys.stderr.write(
        f"a forked child (pid {os.getpid()}) returned into the runtime; it exits without posting or running "
        "after-response work, which belong to its parent\n"
    )
    sys.stderr.flush()
    sys.stdout.flush()
    os._exit(0 if error is None else 1)
