"""Run an ASGI app (FastAPI, Starlette, ...) as a Lambda handler, with its work after the response in the phase.

The handler returns the moment the app sends its last body part: the runtime posts the response, and the app's task
(Starlette's `BackgroundTasks` run there) goes on in the after-response phase, on the same event loop. Lifespan
startup runs once, when the handler is made (at init); lifespan shutdown runs on SIGTERM, as an `@on_shutdown` hook.
"""

from __future__ import annotations

from .. import aio, hooks, logs
from .._typing import TYPE_CHECKING
from ..errors import ShutdownRequested
from .adapter import Adapter

if TYPE_CHECKING:
    import asyncio
    from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
    from typing import Any, Literal, Unpack

    from .adapter import Options, Response
    from .events import HttpRequest

    Message = MutableMapping[str, Any]
    # Loose on purpose: frameworks type scope, receive and send each their own way.
    ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]

_ASGI = {"version": "3.0", "spec_version": "2.0"}
#: seconds the app's lifespan startup may take at an on-demand init (Lambda's limit is 10 s), and at one with a longer
#: limit (provisioned concurrency, SnapStart, Managed Instances); see `_startup_limit_s`
STARTUP_LIMIT_S = 9.0
LONG_STARTUP_LIMIT_S = 120.0


class LifespanError(RuntimeError):
    """The app's lifespan startup failed (an init error) or its shutdown did."""


class ASGIHandler(Adapter):
    """`handler = ASGIHandler(app)`: a Lambda handler for API Gateway (REST and HTTP APIs), Function URLs, ALB and
    Lambda@Edge.

    `lifespan`: "auto" runs the app's lifespan if it supports it, "on" requires it, "off" skips it. The other
    options (`api_gateway_base_path`, `text_mime_types`, `exclude_headers`, `invoke_mode`, `compress`,
    `error_status_codes`, `other_events`) are `Adapter`'s.
    """

    def __init__(
        self, app: ASGIApp, lifespan: Literal["auto", "on", "off"] = "auto", **options: Unpack[Options]
    ) -> None:
        if lifespan not in ("auto", "on", "off"):
            raise ValueError(f"lifespan must be 'auto', 'on' or 'off', not {lifespan!r}")
        super().__init__(**options)
        self.app = app
        #: the lifespan state (`scope["state"]`); each request gets a shallow copy, as servers do. None without a
        #: lifespan (off, or the app has none): requests then have no "state" key, as the ASGI spec has it.
        self.state: dict[str, Any] | None = None
        if lifespan != "off":
            state: dict[str, Any] = {}
            if _Lifespan(app, state, required=lifespan == "on").start():
                self.state = state

    def serve(self, request: HttpRequest, event: Any, context: Any) -> Any:
        cycle = self._cycle(request, event, context)
        aio.result_of(cycle.start(self.app))
        return self._answer(request, cycle)

    async def __runtime_async__(self, event: Any, context: Any) -> Any:
        """The handler as a coroutine, for tasks mode (runtime/tasks.py): several requests at once on one loop."""
        request = self.read(event, context)
        if request is None:
            result = self.other_events(event, context)  # type: ignore[misc]
            return (await result) if hasattr(result, "__await__") else result
        cycle = self._cycle(request, event, context)
        await cycle.start(self.app)
        return self._answer(request, cycle)

    def _cycle(self, request: HttpRequest, event: Any, context: Any) -> _HttpCycle:
        return _HttpCycle(self._scope(request, event, context), request.body, self.streams_to(request))

    def _answer(self, request: HttpRequest, cycle: _HttpCycle) -> Any:
        streams = cycle.streams
        if streams and cycle.status is not None and not cycle.failed:
            # The response has started: its body goes out as the app sends it; the app's work after its last part
            # runs in the phase, which starts once the stream has ended.
            self._finish_later(cycle)
            return self.stream(request, cycle.status, cycle.headers, cycle.stream())
        if cycle.complete.is_set():
            self._finish_later(cycle)
        return self.respond(request, cycle.response())

    def _scope(self, request: HttpRequest, event: Any, context: Any) -> dict[str, Any]:
        scope = {
            "type": "http",
            "asgi": _ASGI,
            "http_version": "1.1",
            "method": request.method,
            "scheme": request.scheme,
            "path": request.path,
            "raw_path": None,
            "root_path": request.root_path,
            "query_string": request.query_string.encode(),
            # [name, value] lists, as Mangum makes them (the spec allows any two-item iterable)
            "headers": [[name.encode(), value.encode()] for name, value in request.headers],
            "client": (request.client, 0) if request.client else None,
            "server": request.server,
            # Mangum's keys, which apps read the raw event and the Lambda context from.
            "aws.event": event,
            "aws.context": context,
        }
        if self.state is not None:
            scope["state"] = self.state.copy()
        return scope

    def _finish_later(self, cycle: _HttpCycle) -> None:
        """The rest of the app's task runs in the after-response phase (named when the phase first asks: the walk
        through the app's awaits, ~5 µs, is not spent before the response)."""
        self.after_response(lambda: _work_after_response(cycle, self.app), finish_app, cycle)


def _work_after_response(cycle: _HttpCycle, app: ASGIApp) -> str:
    """The name logs give the app's work after its response: the background tasks of the Starlette (or FastAPI)
    response the app's task waits to finish sending, `module.function` each, joined by "+"; else the app's name.

    The app's task is suspended in its last `send()`: its chain of awaits passes through the response's `__call__`,
    whose `self.background` holds the tasks. Read there, no Starlette import is needed, and any app or middleware
    that does not look like it is named by the app."""
    coroutine: Any = cycle.task.get_coro() if cycle.task is not None else None
    try:
        for _ in range(100):  # the depth of the app's stack of awaits, bounded should one be circular
            frame = getattr(coroutine, "cr_frame", None)
            if frame is None:
                break
            # f_locals copies a frame's variables: only for code that reads `.background` at all.
            reads_background = "background" in frame.f_code.co_names
            background = getattr(frame.f_locals.get("self"), "background", None) if reads_background else None
            if background is not None:
                tasks = getattr(background, "tasks", [background])  # BackgroundTasks, or one BackgroundTask
                names = [hooks.name_of(task.func) for task in tasks if getattr(task, "func", None) is not None]
                if names:
                    return "+".join(names)
            coroutine = coroutine.cr_await
    except Exception:  # an object whose attributes raise: the name is only for logs
        pass
    return hooks.name_of(app if hasattr(app, "__qualname__") else type(app))


async def finish_app(cycle: _HttpCycle) -> None:
    """The app's task after its response (background tasks): its error, or its time running out, is the phase's."""
    cycle.resume.set()
    if cycle.task is not None:
        await cycle.task


class _HttpCycle:
    """One request through the app: the request body in, the response out, and when the response is complete."""

    def __init__(self, scope: dict[str, Any], body: bytes, streams: bool = False) -> None:
        import asyncio

        self.streams = streams
        #: set at each part of the body the app sends, and when its task ends (streaming)
        self.progress = asyncio.Event()
        self.scope = scope
        self.body: bytes | None = body
        self.status: int | None = None
        self.headers: list[tuple[str, str]] = []
        self.chunks: list[bytes] = []
        self.complete = asyncio.Event()
        #: set when the response is complete or the app's task has ended, whichever comes first
        self.settled = asyncio.Event()
        #: the app waits in its last `send()` until this is set: nothing of it runs before the response is posted
        self.resume = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.failed = False

    async def start(self, app: ASGIApp) -> None:
        """Run the app until its response is complete (then `complete` is set and the app waits for `resume`), or
        until it ends without completing it."""
        import asyncio

        self.task = app_task = asyncio.ensure_future(app(self.scope, self.receive, self.send))
        app_task.add_done_callback(lambda _: self.settled.set())
        await self.settled.wait()
        if self.complete.is_set() or (self.streams and self.status is not None and not app_task.done()):
            return  # complete, or (streaming) started: the body follows
        error = None if app_task.cancelled() else app_task.exception()
        if isinstance(error, ShutdownRequested):
            raise error
        self.failed = True
        if error is not None:
            logs.runtime_logger().error(
                "asgi: the app raised before its response was complete: %r", error, exc_info=error
            )
        else:
            logs.runtime_logger().error("asgi: the app returned without completing its response")

    def response(self) -> Response | None:
        """(status, headers, body); None when the app failed before its response was complete."""
        if self.failed or self.status is None:
            return None
        return self.status, self.headers, b"".join(self.chunks)

    async def receive(self) -> Message:
        if self.body is not None:
            body, self.body = self.body, None
            return {"type": "http.request", "body": body, "more_body": False}
        # The whole request was read; the client is "connected" until it has the response: until the phase starts.
        # Sooner, Starlette's StreamingResponse (it listens for the disconnect) would cancel its own last send and
        # run its background tasks while the response is still going out, where the loop runs on (tasks mode).
        await self.resume.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if self.complete.is_set():
            raise RuntimeError(f"asgi: {kind!r} sent after the response was complete")
        if kind == "http.response.start" and self.status is None:
            self.status = int(message["status"])
            # Lower-cased as ASGI servers (and Mangum) send them; HTTP/2 requires it.
            self.headers = [(_text(name).lower(), _text(value)) for name, value in message.get("headers", ())]
            if self.streams:
                self.settled.set()  # streaming: the handler returns now, the body follows as it is sent
        elif kind == "http.response.body" and self.status is not None:
            self.chunks.append(bytes(message.get("body", b"")))
            self.progress.set()
            if not message.get("more_body", False):
                self.complete.set()
                self.settled.set()
                await self.resume.wait()
        else:
            raise RuntimeError(f"asgi: unexpected message {kind!r}")

    async def stream(self) -> AsyncIterator[bytes]:
        """The body parts as the app sends them, until its last one; the app's error, if it fails before it."""
        assert self.task is not None
        self.task.add_done_callback(lambda _: self.progress.set())
        sent = 0
        while True:
            while sent < len(self.chunks):
                sent += 1
                if self.chunks[sent - 1]:
                    yield self.chunks[sent - 1]
            if self.complete.is_set():
                return
            if self.task.done():
                error = None if self.task.cancelled() else self.task.exception()
                raise error or RuntimeError("asgi: the app returned without completing its response")
            self.progress.clear()
            await self.progress.wait()


class _Lifespan:
    """The app's lifespan protocol, held open for the life of the process."""

    def __init__(self, app: ASGIApp, state: dict[str, Any], required: bool) -> None:
        import asyncio

        self.app = app
        self.state = state
        self.required = required
        self.received = 0
        self.shutdown_requested = asyncio.Event()
        self.answered = asyncio.Event()
        self.answer: Message | None = None
        #: the type of a message of another protocol the app answered the lifespan scope with
        self.foreign: str | None = None

    def start(self) -> bool:
        """Run the startup (at init): whether the app has a lifespan; LifespanError if it failed or did not answer
        in time; the shutdown registered if it succeeded."""
        task = aio.start_resident(self._run())
        limit_s = _startup_limit_s()
        if not aio.result_of(self._await_answer(task, limit_s)):
            task.cancel()
            aio.result_of(_ended(task, 0.1))
            raise LifespanError(
                f"the app's lifespan startup did not answer within {limit_s:.0f} s and was cancelled: it waits for "
                "something that does not come (a database, a network call without a timeout?)"
            )
        answer = self.answer
        if self.foreign is not None or (answer is None and self.received == 0):
            # It answered with another protocol's message (an app that serves every scope as HTTP), or it failed or
            # ended without asking for the startup event: "no lifespan", as the ASGI spec has servers take it.
            if not task.done():
                task.cancel()
            aio.result_of(_ended(task, 0.1))
            error = _error(task)
            reason = f"it answered {self.foreign!r}" if self.foreign is not None else repr(error)
            if self.required:
                raise LifespanError(f"the app does not support the lifespan protocol (lifespan='on'): {reason}")
            logs.runtime_logger().debug("asgi: the app does not support the lifespan protocol: %s", reason)
            return False
        if answer is None or answer["type"] != "lifespan.startup.complete":
            aio.result_of(_ended(task))  # Starlette answers "failed", then raises
            _raise_failure("startup", answer, task)
        self.answer = None
        self.answered.clear()
        hooks.on_shutdown(name="asgi lifespan shutdown")(self._shutdown_hook(task))
        return True

    def _shutdown_hook(self, task: asyncio.Task[None]) -> Callable[[], Awaitable[None]]:
        async def shutdown() -> None:
            import time

            # Half of the shutdown budget at most, so that the @on_shutdown hooks after this one still get time: a
            # shutdown that hangs (a pool's close() waiting on a dead connection) used all of it, and they were
            # skipped.
            limit_s = _shutdown_budget_ms() / 2000
            ends_at = time.monotonic() + limit_s
            self.shutdown_requested.set()
            answered = await self._await_answer(task, limit_s)
            answer = self.answer
            if answered and answer is not None and answer["type"] == "lifespan.shutdown.complete":
                return
            if not answered:
                task.cancel()
            # Starlette answers "failed", then raises: its exception is the better report.
            await _ended(task, max(ends_at - time.monotonic(), 0.0))
            if not answered:
                raise LifespanError(
                    f"the app's lifespan shutdown did not answer within {limit_s * 1000:.0f} ms (half of "
                    "RUNTIME_SHUTDOWN_BUDGET_MS) and was cancelled, so that the shutdown hooks after it still run"
                ) from _error(task)
            _raise_failure("shutdown", answer, task)

        return shutdown

    async def _await_answer(self, task: asyncio.Task[None], limit_s: float) -> bool:
        """Until the app answers, or its lifespan task ends (failed, or returned): True; False after `limit_s`."""
        import asyncio

        task.add_done_callback(lambda _: self.answered.set())
        try:
            await asyncio.wait_for(self.answered.wait(), limit_s)
        except TimeoutError:
            return False
        return True

    async def _run(self) -> None:
        scope = {"type": "lifespan", "asgi": _ASGI, "state": self.state}
        await self.app(scope, self._receive, self._send)

    async def _receive(self) -> Message:
        self.received += 1
        if self.received == 1:
            return {"type": "lifespan.startup"}
        await self.shutdown_requested.wait()
        return {"type": "lifespan.shutdown"}

    async def _send(self, message: Message) -> None:
        kind = str(message.get("type"))
        if not kind.startswith("lifespan."):
            self.foreign = kind
            self.answered.set()
            # Raised into the app, as uvicorn does: its lifespan task ends there.
            raise RuntimeError(f"asgi: {kind!r} sent in the lifespan scope")
        self.answer = message
        self.answered.set()


async def _ended(task: asyncio.Task[None], limit_s: float = 1.0) -> None:
    """Until `task` ends, for at most `limit_s`."""
    import asyncio

    await asyncio.wait((task,), timeout=limit_s)


def _startup_limit_s() -> float:
    """How long the lifespan startup may take. Lambda's init phase is limited to 10 s on demand, and a startup past
    it is retried in the first invocation, with no message saying why; this limit, under Lambda's, makes a startup
    that hangs a clear init error. With provisioned concurrency, SnapStart and Managed Instances, init may take
    max(130 s, the function timeout), so a slow startup (a model to load) gets 120 s there. (platform §4.1; AWS
    "Understanding the Lambda execution environment lifecycle", Init phase, and "Lambda Managed Instances execution
    environment".)"""
    import os

    on_demand = os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand") == "on-demand"
    return STARTUP_LIMIT_S if on_demand else LONG_STARTUP_LIMIT_S


def _shutdown_budget_ms() -> int:
    """RUNTIME_SHUTDOWN_BUDGET_MS as the runtime read it at start-up (its default when unset)."""
    from ..config import read_setting

    return int(read_setting("RUNTIME_SHUTDOWN_BUDGET_MS"))


def _error(task: asyncio.Task[None]) -> BaseException | None:
    return task.exception() if task.done() and not task.cancelled() else None


def _raise_failure(step: str, answer: Message | None, task: asyncio.Task[None]) -> None:
    """The app's own exception if it raised one: its type and trace point at the app's lifespan code, as an error
    at import would. Otherwise LifespanError with the app's message."""
    error = _error(task)
    if error is not None:
        raise error
    if answer is not None and answer.get("message"):
        detail = str(answer["message"]).strip().splitlines()[-1]
    else:
        detail = f"the app answered {answer['type']!r}" if answer is not None else "the app ended without answering"
    raise LifespanError(f"the app's lifespan {step} failed: {detail}")


def _text(value: bytes | str) -> str:
    if isinstance(value, str):
        return value
    try:
        return value.decode()
    except UnicodeDecodeError:
        return value.decode("latin-1")
