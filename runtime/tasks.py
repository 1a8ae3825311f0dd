"""Tasks mode: one process serving several invocations at once, each a task of the process's event loop.

With `RUNTIME_WORKER_PROCESSES=P` below `AWS_LAMBDA_MAX_CONCURRENCY=N` (Lambda Managed Instances), each of the P
worker processes serves up to ceil(N/P) invocations at once, as Node's and Rust's runtimes and Lambda Web Adapter do
on Managed Instances, where awslambdaric forks a process per invocation (docs/platform.md §6). Each of those slots
runs the ordinary loop in protocol order, as a task:

    /next (its own connection) -> handler -> reply -> after-response phase -> /next

so an invocation's phase runs after its own response and before its slot asks for the next one; the other slots go
on meanwhile. What belongs to one invocation (its lifetime: the request id of log records, `defer()`'s queue,
`phase_time_left()`) is a context variable of its slot's task (current.py), which the tasks it starts and
`asyncio.to_thread()` carry. The environment is the process's: `_X_AMZN_TRACE_ID` is not set; `runtime.trace_id()`
gives an invocation's trace id.

Only coroutines can share the loop: an `async def` handler or `runtime.web.ASGIHandler`; a synchronous handler is a
`Runtime.ConfigInvalid` init error. A coroutine that blocks without awaiting holds every invocation of the process:
the lag watch names it, with its stack. SIGTERM stops the slots waiting for work, cancels handlers still running
(their hooks run with the shutdown as their error, as in the one-invocation loop), lets replies and phases finish
within the shutdown budget, then runs the `@on_shutdown` hooks in what is left of it.
"""

from __future__ import annotations

import _signal
import _thread
import sys
import time
from _contextvars import copy_context
from _queue import SimpleQueue

from . import logs
from ._typing import TYPE_CHECKING
from .api import RuntimeApiError
from .config import ConfigError
from .current import serve_tasks, work_for
from .handler import HandlerCall
from .phase import log_lost_work
from .reply import ApiChannel, Buffered, deliver

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable
    from contextvars import Context
    from typing import Any

    from .api import RuntimeApi
    from .context import FunctionInfo
    from .handler import Handler
    from .invocation import Invocation, Request
    from .phase import PhaseReport, PhaseRunner
    from .reply import Reply

#: how often the loop records that it is running, for the lag watch (s)
_BEAT_S = 0.05


def async_entry(handler: Handler, processes: int, concurrency: int) -> Handler:
    """The coroutine function tasks mode calls for each invocation: the handler itself when it is `async def` (or
    wraps one, `functools.wraps`), an ASGI bridge's coroutine form; otherwise a ConfigError that says what to do."""
    entry = getattr(handler, "__runtime_async__", None)
    if entry is not None:
        return entry  # type: ignore[no-any-return]
    import inspect

    name = getattr(handler, "__qualname__", type(handler).__name__)
    setting = f"RUNTIME_WORKER_PROCESSES={processes} with AWS_LAMBDA_MAX_CONCURRENCY={concurrency}"
    if getattr(handler, "__runtime_streaming__", False):
        raise ConfigError(
            f"{setting} serves several invocations at once on one event loop: the @streaming handler {name} writes "
            "its response with blocking calls; return an async generator instead (it is streamed as it yields), or "
            "unset RUNTIME_WORKER_PROCESSES (one process per invocation)"
        )
    unwrapped = inspect.unwrap(handler)
    # An object whose class has `async def __call__` counts too.
    if inspect.iscoroutinefunction(unwrapped) or inspect.iscoroutinefunction(type(unwrapped).__call__):
        return handler
    raise ConfigError(
        f"{setting} serves several invocations at once, as tasks of one event loop: the handler must be an "
        f"`async def` function or a runtime.web.ASGIHandler, and {name} is synchronous (it would hold the loop, and "
        "every other invocation, for its whole run). Make it `async def`, or unset RUNTIME_WORKER_PROCESSES (one "
        "process per invocation)"
    )


class _SlotThread:
    """A slot's thread for its Runtime API calls that may block (a stream, whose producer may; an error document; a
    `/next` asked again after a failure, with the workers' retries), each run in the context of the task that asked:
    a reply's log records carry its request id. Started at its first call (a slot that never needs it holds no
    stack). Daemon-like: the process never waits for it (a thread in `/next` when the process exits is left
    there)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._jobs: SimpleQueue[tuple[asyncio.Future[Any], Context, Callable[..., Any], tuple[Any, ...]]]
        self._jobs = SimpleQueue()
        self._started = False

    def call(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        if not self._started:
            self._started = True
            _thread.start_new_thread(self._work, ())
        future = self._loop.create_future()
        self._jobs.put((future, copy_context(), fn, args))
        return future

    def _work(self) -> None:
        while True:
            future, context, fn, args = self._jobs.get()
            try:
                outcome: tuple[bool, Any] = (True, context.run(fn, *args))
            except BaseException as exc:
                outcome = (False, exc)
            try:
                self._loop.call_soon_threadsafe(_settle, future, outcome)
            except RuntimeError:  # the loop is closed: the process is exiting
                return


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _uncancel() -> None:
    """The running task goes on after a cancellation it has handled (asyncio counts them: `cancelling()`)."""
    import asyncio

    task = asyncio.current_task()
    if task is not None:
        task.uncancel()


def _settle(future: asyncio.Future[Any], outcome: tuple[bool, Any]) -> None:
    if future.cancelled():  # the slot stopped waiting (shutdown)
        return
    ok, value = outcome
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


class _Slot:
    """One invocation at a time of the process's several: its connection, its thread, its phase runner."""

    __slots__ = ("api", "runner", "stage", "task", "thread")

    def __init__(self, api: RuntimeApi, runner: PhaseRunner, thread: _SlotThread) -> None:
        self.api = api
        self.runner = runner
        self.thread = thread
        #: where the slot is: "next", "handler", "reply", "phase"
        self.stage = "next"
        #: the slot's task, which runs its invocations' handlers and phases too
        self.task: asyncio.Task[None] | None = None

    def owns(self, task: asyncio.Task[Any] | None) -> bool:
        return task is not None and (task is self.task or task in self.runner.lifetime.tasks)


class TaskServer:
    """Serves `len(slots)` invocations at once on the process's event loop (each slot: its connection to the Runtime
    API and its phase runner), until SIGTERM, a handler's `sys.exit()`, or the API fails."""

    def __init__(
        self,
        slots: list[tuple[RuntimeApi, PhaseRunner]],
        entry: Handler,
        function: FunctionInfo,
        shutdown_budget_ms: int,
        lag_ms: int,
        on_signal: Callable[[], None],
    ) -> None:
        from . import aio

        serve_tasks()
        aio.track_tasks()
        self.loop = aio.event_loop()
        self.entry = entry
        self.function = function
        self.budget_ms = shutdown_budget_ms
        self.lag_ms = lag_ms
        self._on_signal = on_signal
        self.slots = [_Slot(api, runner, _SlotThread(self.loop)) for api, runner in slots]
        self.stopping = False
        self.exit_code: Any = 0
        self.cutoff_ms = 0.0

    def serve(self) -> tuple[PhaseReport, Any]:
        """Serve until SIGTERM (or a handler's `sys.exit()`); then the shutdown phase's report and the exit code.
        Raises RuntimeApiError when the API failed a slot: the process must exit."""
        _signal.signal(_signal.SIGTERM, self._sigterm)
        if self.lag_ms:
            _LagWatch(self).start()
        return self.loop.run_until_complete(self._serve())

    async def _serve(self) -> tuple[PhaseReport, Any]:
        import asyncio

        self._stopped = asyncio.Event()
        for slot in self.slots:
            slot.task = asyncio.ensure_future(self._run_slot(slot))
        tasks = [slot.task for slot in self.slots if slot.task is not None]
        stop = asyncio.ensure_future(self._stopped.wait())
        done, _ = await asyncio.wait([*tasks, stop], return_when=asyncio.FIRST_COMPLETED)
        failed = next((task for task in done if task is not stop and task.exception() is not None), None)
        if failed is not None:
            stop.cancel()
            log_lost_work([name for slot in self.slots for name in slot.runner.unrun_work()])
            raise failed.exception()  # type: ignore[misc]
        # Stopping: replies and phases in flight finish within the budget; what is left at its end is cut off.
        pending = [task for task in tasks if not task.done()]
        if pending:
            _, pending_set = await asyncio.wait(pending, timeout=self._left_s())
            if pending_set:
                lost = [name for slot in self.slots if slot.task in pending_set for name in slot.runner.unrun_work()]
                logs.runtime_logger().error(
                    "shutdown: the budget (RUNTIME_SHUTDOWN_BUDGET_MS) ran out; cut off: %s", ", ".join(lost) or "-"
                )
                for task in pending_set:
                    task.cancel()
                await asyncio.wait(pending_set, timeout=0.1)
        runner = self.slots[0].runner
        work_for(runner.lifetime)  # work the shutdown hooks defer runs too, while the budget lasts
        report = await runner.run_shutdown_async(self._left_s() * 1000)
        return report, self.exit_code

    def _left_s(self) -> float:
        return max(self.cutoff_ms - time.time() * 1000, 0.0) / 1000

    async def _run_slot(self, slot: _Slot) -> None:
        while not self.stopping:
            slot.stage = "next"
            request = await self._next(slot)
            if request is None:  # SIGTERM came while the slot waited
                return
            await self._invoke(slot, request)

    async def _next(self, slot: _Slot) -> Request | None:
        """The slot's next invocation: `GET /next` sent from the loop and its reply awaited there (no thread hand-off
        between the phase's end and the request), read once it has arrived. A failure is asked again as a worker
        asks (`WorkerApi`: retried), in the slot's thread."""
        import asyncio

        api = slot.api
        try:
            fd = api.send_next()
        except (RuntimeApiError, OSError):
            return await self._next_in_thread(slot)
        try:
            await self._readable(fd)
        except asyncio.CancelledError:
            if not self.stopping:
                raise
            if not api.reply_waiting():
                return None
            _uncancel()  # the invocation came just as SIGTERM did: it is served (within the budget), not dropped
        try:
            return api.read_next()
        except (RuntimeApiError, OSError):
            return await self._next_in_thread(slot)

    async def _next_in_thread(self, slot: _Slot) -> Request | None:
        import asyncio

        waiting = slot.thread.call(slot.api.next_invocation)
        try:
            request: Request = await waiting
        except asyncio.CancelledError:
            if not self.stopping:
                raise
            if waiting.cancelled() or waiting.exception() is not None:
                return None
            request = waiting.result()
            _uncancel()
        return request

    async def _invoke(self, slot: _Slot, request: Request) -> None:
        """One invocation, in protocol order; its phase before the slot's next `/next`."""
        import asyncio

        lifetime = slot.runner.lifetime
        lifetime.begin(request)  # in this slot's task's context only
        try:
            call = HandlerCall(request)
            channel = ApiChannel(slot.api, request)
            slot.stage = "handler"
            try:
                reply = await call.run_async(self.entry, self.function, channel)  # in this task: no task per call
            except asyncio.CancelledError:
                if not self.stopping:
                    raise
                _uncancel()
                # SIGTERM cancelled the handler: its hooks run with the shutdown as its error, nothing was sent.
                invocation = call.invocation(delivered=False)
            else:
                slot.stage = "reply"
                lifetime.activity.name = reply.name
                delivered = await self._send(slot, reply, channel, request)
                invocation = call.invocation(delivered)
            slot.stage = "phase"
            await slot.runner.run_async(invocation)
        finally:
            lifetime.end()
        self._exit_if_asked(invocation)

    async def _send(self, slot: _Slot, reply: Reply, channel: ApiChannel, request: Request) -> bool:
        """Send the reply: a buffered result from the loop, its answer awaited there (no thread hand-off, which
        waits for the interpreter lock while other invocations run); an error document or a stream in the slot's
        thread (a stream's producer may block, an error is logged first)."""
        if type(reply) is not Buffered:
            delivered: bool = await slot.thread.call(reply.send, channel)
            return delivered
        api = slot.api
        fd = api.send_response(request.request_id, reply.body, reply.content_type, request.invocation_id)
        await self._readable(fd)
        return deliver(api.read_accepted)

    async def _readable(self, fd: int) -> None:
        """Until the reply on `fd` has begun to arrive."""
        arrived = self.loop.create_future()
        self.loop.add_reader(fd, _wake, arrived)
        try:
            await arrived
        finally:
            self.loop.remove_reader(fd)

    def _exit_if_asked(self, invocation: Invocation) -> None:
        if isinstance(invocation.error, SystemExit) and not self.stopping:
            code = invocation.error.code
            logs.runtime_logger().warning(
                "the handler called sys.exit(%r): the process takes no more invocations, lets those in flight "
                "finish and exits",
                code,
            )
            self._stop(code)

    def _sigterm(self, signum: int, frame: object) -> None:
        self._on_signal()
        _signal.signal(_signal.SIGTERM, _signal.SIG_IGN)  # once: Lambda's to the group, and the parent's
        self.loop.call_soon_threadsafe(self._stop, 0)

    def _stop(self, exit_code: Any) -> None:
        if self.stopping:
            return
        self.stopping = True
        self.exit_code = exit_code
        self.cutoff_ms = time.time() * 1000 + self.budget_ms
        for slot in self.slots:
            slot.runner.cutoff_ms = self.cutoff_ms
            if slot.stage in ("next", "handler") and slot.task is not None:
                slot.task.cancel()
        self._stopped.set()


class _LagWatch:
    """Warns when one invocation blocks the event loop (a `time.sleep`, a synchronous HTTP client in async code):
    every other invocation of the process waits meanwhile. Names the invocation, its task and where it is."""

    def __init__(self, server: TaskServer) -> None:
        self.server = server
        self.loop = server.loop
        self.beat = time.monotonic()
        self.main_thread = _thread.get_ident()

    def start(self) -> None:
        self.loop.call_soon(self._tick)
        _thread.start_new_thread(self._watch, ())

    def _tick(self) -> None:
        self.beat = time.monotonic()
        self.loop.call_later(_BEAT_S, self._tick)

    def _watch(self) -> None:
        threshold_s = self.server.lag_ms / 1000
        warned = 0.0
        while True:
            time.sleep(min(threshold_s / 2, 0.25))
            beat = self.beat
            if time.monotonic() - beat < threshold_s or beat == warned:
                continue
            warned = beat
            try:
                self._warn(time.monotonic() - beat)
            except Exception as exc:  # a diagnostic must never end the process; say why it is missing
                logs.thread_warning(f"tasks: the event loop is blocked, and it could not be described: {exc!r}")

    def _warn(self, lag_s: float) -> None:
        import asyncio
        import traceback

        task = asyncio.current_task(self.loop)
        slot = next((slot for slot in self.server.slots if slot.owns(task)), None)
        request = slot.runner.lifetime.request if slot is not None else None
        frame = sys._current_frames().get(self.main_thread)
        stack = "".join(traceback.format_stack(frame, limit=8)) if frame is not None else ""
        who = f"invocation {request.request_id}" if request is not None else "code outside any invocation"
        name = task.get_name() if task is not None else "-"
        logs.thread_warning(
            f"tasks: {who} has blocked the event loop for {lag_s * 1000:.0f} ms (task {name}): the process's other "
            "invocations wait meanwhile. A blocking call in async code (time.sleep, a synchronous client) belongs in "
            f"asyncio.to_thread(). It is here:\n{stack.rstrip()}"
        )
