"""A Runtime API and Extensions API server with Lambda's semantics, on loopback: the test fake and the emulator's core.

It is the server side of platform §1-3, as RAPID implements it:
- the caller gets the result the moment the runtime POSTs `/response` or `/error` (real Lambda; RIE instead waits
  for the runtime's next `/next`, §2.2);
- an invocation ends only when the runtime and every INVOKE-subscribed extension have called next again; the next
  invocation waits for that;
- extension registration closes at the runtime's first `/next`; internal extensions may not subscribe to SHUTDOWN;
- RAPID's status codes and error bodies: 413 above 6 MiB + 100 bytes, 400 for a wrong request id, 403 for a second
  `/response` and for `/runtime/init/error` once past init, 403 `Extension.*` errors checked in RAPID's order, and its
  router's plain 404 (unknown path) and empty 405 (known path, other method);
- a `/next` while an invocation runs hands out that invocation again, as RAPID's Running state does.
tests/rie/test_conformance.py sends one scripted sequence of requests to the real RIE and to this server and compares.
Every request is recorded with a monotonic timestamp, so tests assert order and causality rather than durations.
`/test/mark/NAME` records a mark: code under test calls it to put its own events on the same clock.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_PAYLOAD = 6 * 1024 * 1024 + 100
#: a streamed response's mode header (platform §1.7); RIE passes it on to its caller, and so does `serve`
RESPONSE_MODE_HEADER = "Lambda-Runtime-Function-Response-Mode"
# A streamed response may be up to 200 MB (platform §1.7); RIE buffers streams and keeps the 6 MiB limit.
MAX_STREAMED = 200 * 1024 * 1024
MAX_EXTENSIONS = 10
RUNTIME = "/2018-06-01/runtime"
EXTENSION = "/2020-01-01/extension"
MARK = "/test/mark/"


@dataclass
class Recorded:
    """One request as the server saw it; `at` is `time.monotonic()` when its body had been read, `replied_at` just
    before its reply was sent."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    status: int = 0
    replied_at: float = 0.0
    #: the client's address and port: which connection (which worker process) sent it
    connection: str = ""
    #: whether the client still holds the connection open (a worker killed while it waited in /next has not)
    alive: Callable[[], bool] = field(default=lambda: True, repr=False, compare=False)
    #: a chunked body (a streamed response): when each chunk arrived and its size; and the trailers
    chunks: list[tuple[float, int]] = field(default_factory=list)
    trailers: dict[str, str] = field(default_factory=dict)


@dataclass
class Result:
    """What the caller of an invocation gets."""

    kind: str  # "response", "error", "init_error", "timeout", "reset", "unavailable"; the emulator adds "exit_error"
    body: bytes
    headers: dict[str, str]
    at: float
    #: a streamed response: when each chunk of the body arrived, with its size (`at` is the last byte's time)
    chunks: list[tuple[float, int]] = field(default_factory=list)
    #: a streamed response's trailers (lower-case names): Lambda's error type and body when it ended with an error
    trailers: dict[str, str] = field(default_factory=dict)

    @property
    def streamed(self) -> bool:
        return self.headers.get(RESPONSE_MODE_HEADER.lower()) == "streaming"

    @property
    def stream_error_type(self) -> str | None:
        """The error type of a stream that ended with an error (its trailer), else None."""
        return self.trailers.get("lambda-runtime-function-error-type")

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class _Record:
    """The platform side's record of one invocation: the caller's event, when each step happened, the result. (What
    the runtime sees of it is `runtime.invocation.Request`.)"""

    request_id: str
    event: bytes
    headers: dict[str, str]
    timeout_s: float
    deadline_ms: int = 0
    submitted_at: float = field(default_factory=time.monotonic)
    dispatched_at: float = 0.0
    runtime_next_at: float = 0.0
    ended_at: float = 0.0
    result: Result | None = None
    #: a streamed response's chunks as they arrive (time, bytes), before the whole result exists, and its headers
    live: list[tuple[float, bytes]] = field(default_factory=list)
    live_headers: dict[str, str] = field(default_factory=dict)
    done: threading.Event = field(default_factory=threading.Event)
    ended: threading.Event = field(default_factory=threading.Event)
    extensions_pending: set[str] = field(default_factory=set)
    runtime_next: bool = False


@dataclass(frozen=True)
class Timing:
    """When each step of one invocation happened, on `time.monotonic()`'s clock (0.0: not yet)."""

    request_id: str
    submitted_at: float
    dispatched_at: float
    responded_at: float
    runtime_next_at: float
    ended_at: float
    deadline_ms: int


@dataclass
class _Extension:
    id: str
    name: str
    events: list[str]
    queue: list[bytes] = field(default_factory=list)
    waiting: bool = False


# A scripted reply, for fault injection: (status, headers, body), or None to let the server answer.
Interceptor = Callable[[Recorded], tuple[int, dict[str, str], bytes] | None]


class LambdaApiServer:
    """Serve one execution environment's Runtime and Extensions API; `invoke()` plays the synchronous caller."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        timeout_s: float = 30.0,
        concurrency: int | None = None,
        route_at_init_end: bool = False,
        function_name: str = "test_function",
        region: str = "us-east-1",
        account: str = "012345678912",
    ) -> None:
        self.timeout_s = timeout_s
        #: the function the invocations are for: named in /next's Lambda-Runtime-Invoked-Function-Arn, the INVOKE
        #: event's invokedFunctionArn and the extensions' registration reply. The defaults are RIE's.
        self.function_name = function_name
        self.function_arn = f"arn:aws:lambda:{region}:{account}:function:{function_name}"
        #: Lambda Managed Instances: invocations run at once, one per worker connection waiting in /next; an
        #: invocation that finds none is refused with Runtime.Unavailable, as RIE's LMI mode does (platform §6)
        self.concurrency = concurrency
        #: concurrent mode: an invocation that arrives during init waits for its end, then gets a worker waiting in
        #: /next or Runtime.Unavailable, as in RIE's LMI mode (the emulator's). Off: it is queued until a worker takes
        #: it, which tests that submit work at once, before every worker has done its init, rely on.
        self.route_at_init_end = route_at_init_end
        self._busy: dict[str, _Record] = {}  # connection -> its running invocation (concurrent mode)
        self._idle = 0  # connections waiting in /next (concurrent mode)
        self.requests: list[Recorded] = []
        self.interceptor: Interceptor | None = None
        self._cond = threading.Condition()
        self._pending: list[_Record] = []
        self._current: _Record | None = None
        self._all: dict[str, _Record] = {}
        self._extensions: dict[str, _Extension] = {}
        self._registration_open = True
        self._init_error: Result | None = None
        self._restore_error: Result | None = None
        self._init_done = False
        self.initialized = threading.Event()
        self._httpd = _Httpd((host, port), _Handler)
        self._httpd.api = self
        self._thread: threading.Thread | None = None

    # Life cycle ------------------------------------------------------------------------------------------------

    @property
    def address(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"{host!s}:{port}"

    def start(self) -> LambdaApiServer:
        # serve_forever checks for shutdown() every poll_interval: the default 0.5 s made every stop wait that long
        # (measured: the unit and e2e tests 88 s -> 46 s with 0.02 s); an idle wake-up 50 times a second costs nothing.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="lambda-api", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._cond:
            self._cond.notify_all()

    def __enter__(self) -> LambdaApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """A fresh environment (after a crash or timeout): registrations and state start over."""
        with self._cond:
            if self._current is not None and self._current.result is None:
                self._finish(self._current, Result("reset", b"", {}, time.monotonic()))
            self._current = None
            self._extensions.clear()
            self._registration_open = True
            self._init_done = False
            self._init_error = None
            self._restore_error = None
            self.initialized.clear()
            self._cond.notify_all()

    # The caller's side -----------------------------------------------------------------------------------------

    def submit(self, event: bytes, headers: dict[str, str] | None = None, timeout_s: float | None = None) -> str:
        """Queue an invocation; returns its request id."""
        invocation = _Record(str(uuid.uuid4()), event, dict(headers or {}), timeout_s or self.timeout_s)
        with self._cond:
            self._all[invocation.request_id] = invocation
            if self.concurrency is not None and self._init_done and self._idle <= len(self._pending):
                self._finish(invocation, Result("unavailable", _UNAVAILABLE, {}, time.monotonic()))
                invocation.ended.set()
                return invocation.request_id
            self._pending.append(invocation)
            self._cond.notify_all()
        return invocation.request_id

    def invoke(self, event: bytes = b"{}", headers: dict[str, str] | None = None, wait_s: float = 30.0) -> Result:
        """Invoke and wait for the result as a synchronous caller: until `/response`, not until the next `/next`."""
        request_id = self.submit(event, headers)
        return self.result(request_id, wait_s)

    def result(self, request_id: str, wait_s: float = 30.0) -> Result:
        invocation = self._find(request_id)
        if not invocation.done.wait(wait_s):
            raise TimeoutError(f"no result for {request_id} within {wait_s} s")
        assert invocation.result is not None
        return invocation.result

    def timing(self, request_id: str) -> Timing:
        invocation = self._find(request_id)
        with self._cond:
            return Timing(
                request_id,
                invocation.submitted_at,
                invocation.dispatched_at,
                invocation.result.at if invocation.result else 0.0,
                invocation.runtime_next_at,
                invocation.ended_at,
                invocation.deadline_ms,
            )

    def streamed_so_far(self, request_id: str) -> tuple[dict[str, str], list[tuple[float, bytes]]]:
        """A streamed response as far as it has arrived: its headers and its chunks (time, bytes)."""
        invocation = self._find(request_id)
        return dict(invocation.live_headers), list(invocation.live)

    def _live(self, path: str, headers: dict[str, str]) -> list[tuple[float, bytes]] | None:
        """Where a streamed response's chunks go as they arrive, for its invocation's caller (None: not one)."""
        route = _route(path)
        if route is None or route[1] != "response":
            return None
        with self._cond:
            invocation = self._all.get(route[2])
        if invocation is None:
            return None
        invocation.live_headers = headers
        return invocation.live

    def init_error(self) -> Result | None:
        with self._cond:
            return self._init_error

    def restore_error(self) -> Result | None:
        """What the runtime posted to `/runtime/restore/error` (SnapStart: an after-restore hook failed)."""
        with self._cond:
            return self._restore_error

    def wait_ended(self, request_id: str, wait_s: float = 30.0) -> None:
        """Wait until the runtime and every INVOKE extension have called next after this invocation."""
        if not self._find(request_id).ended.wait(wait_s):
            raise TimeoutError(f"invocation {request_id} did not end within {wait_s} s")

    def finish_current(self, result: Result) -> str | None:
        """End the running invocation from outside (timeout, crash); returns its request id."""
        with self._cond:
            invocation = self._current
            if invocation is None:
                return None
            if invocation.result is None:
                self._finish(invocation, result)
            invocation.ended_at = time.monotonic()
            invocation.ended.set()
            self._current = None
            self._cond.notify_all()
            return invocation.request_id

    def fail(self, request_id: str, result: Result) -> None:
        """End an invocation, queued or running, with a result the emulator decided (timeout, crash, init error)."""
        with self._cond:
            invocation = self._all[request_id]
            if invocation in self._pending:
                self._pending.remove(invocation)
            if self._current is invocation:
                self._current = None
            for connection, running in list(self._busy.items()):
                if running is invocation:
                    del self._busy[connection]
            if invocation.result is None:
                self._finish(invocation, result)
            invocation.ended_at = time.monotonic()
            invocation.ended.set()
            self._cond.notify_all()

    def idle_workers(self) -> int:
        """Concurrent mode: how many worker connections wait in /next."""
        with self._cond:
            return self._idle

    def current(self) -> tuple[str, int, bool] | None:
        """(request id, deadline ms, result posted) of the running invocation."""
        with self._cond:
            if self._current is None:
                return None
            return self._current.request_id, self._current.deadline_ms, self._current.result is not None

    def extension_failed(self, extension_id: str) -> None:
        """Forget an extension that failed, so that invocations stop waiting for it (fault-injection tests)."""
        with self._cond:
            self._extensions.pop(extension_id, None)
            if self._current is not None:
                self._current.extensions_pending.discard(extension_id)
                self._maybe_end(self._current)
            self._cond.notify_all()

    def extension_names(self) -> list[str]:
        with self._cond:
            return [extension.name for extension in self._extensions.values()]

    # Recorded requests -----------------------------------------------------------------------------------------

    def find(self, suffix: str, method: str | None = None) -> list[Recorded]:
        return [r for r in list(self.requests) if r.path.endswith(suffix) and (method is None or r.method == method)]

    def marks(self, name: str) -> list[Recorded]:
        return self.find(MARK + name)

    def wait_for(self, predicate: Callable[[], bool], wait_s: float = 10.0) -> None:
        deadline = time.monotonic() + wait_s
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError("condition not met in time")
            time.sleep(0.005)

    # Request handling (server threads) -------------------------------------------------------------------------

    def handle(self, request: Recorded, reply: Callable[[int, dict[str, str], bytes], None]) -> None:
        if self.interceptor is not None:
            scripted = self.interceptor(request)
            if scripted is not None:
                reply(*scripted)
                return
        if request.path.startswith(MARK):
            reply(200, {}, b"{}")
            return
        route = _route(request.path)
        if route is None:
            # RAPID's router (chi): a plain-text 404 for an unknown path, an empty 405 for a known one with another
            # method; neither has an errorType (tests/rie/test_conformance.py).
            reply(404, {"Content-Type": "text/plain; charset=utf-8"}, b"404 page not found\n")
        elif route[0] != request.method:
            reply(405, {}, b"")
        elif route[1] == "next":
            (self._next if self.concurrency is None else self._next_concurrent)(request, reply)
        elif route[1] in ("response", "error"):
            self._post_result(route[2], route[1], request, reply)
        elif route[1] == "init_error":
            self._post_init_error(request, reply)
        elif route[1] == "restore_next":
            self._restore_next(request, reply)
        elif route[1] == "restore_error":
            self._post_restore_error(request, reply)
        elif route[1] == "register":
            self._register(request, reply)
        else:
            self._extension_next(request, reply)

    def _next(self, request: Recorded, reply: Callable[[int, dict[str, str], bytes], None]) -> None:
        with self._cond:
            if self._init_error is not None:
                # After /runtime/init/error the runtime is in RAPID's InitError state: no /next (platform §1.2).
                reply(403, {}, _error("InvalidStateTransition", "State transition from InitError to Ready failed"))
                return
            # Registration closes at the runtime's first /next (platform §3.3).
            self._registration_open = False
            invocation = self._current
            # A /next while the invocation runs (no result yet) gets that invocation again, as from RAPID's Running
            # state (core/states.go RuntimeRunningState.Ready); its extensions get no second INVOKE.
            if invocation is None or invocation.result is not None:
                if invocation is not None:
                    invocation.runtime_next = True
                    invocation.runtime_next_at = request.at
                    self._maybe_end(invocation)
                self._cond.notify_all()
                invocation = self._dispatch()
                if invocation is None:
                    return
            headers = self._event_headers(invocation)
        reply(200, headers, invocation.event)

    def _next_concurrent(self, request: Recorded, reply: Callable[[int, dict[str, str], bytes], None]) -> None:
        """A worker's /next: it ends the invocation this connection was serving, then waits for a new one."""
        with self._cond:
            if self._init_error is not None:
                reply(403, {}, _error("InvalidStateTransition", "State transition from InitError to Ready failed"))
                return
            self._registration_open = False
            previous = self._busy.pop(request.connection, None)
            if previous is not None:
                previous.runtime_next = True
                previous.runtime_next_at = request.at
                self._maybe_end(previous)
            self._idle += 1
            if not self._init_done and self._init_complete() and self.route_at_init_end:
                self._route_held_invocations()
            self._cond.notify_all()
            try:
                while not (self._pending and self._init_complete()):
                    self._cond.wait(timeout=0.05)
                    if not request.alive():
                        return  # the worker died while it waited: no invocation goes to its connection
                    if self._httpd.stopping:
                        break
            finally:
                self._idle -= 1
            if self._httpd.stopping:  # the API goes away under the waiting workers, as when its host fails
                reply(500, {}, _error("ServiceStopping", "the Runtime API is shutting down"))
                return
            invocation = self._pending.pop(0)
            self._busy[request.connection] = invocation
            _stamp_dispatch(invocation)
            self._cond.notify_all()
            headers = self._event_headers(invocation)
        reply(200, headers, invocation.event)

    def _route_held_invocations(self) -> None:
        """Init has just ended (concurrent mode: at the first worker's /next). The invocations that arrived during
        init waited for it; now each goes to a worker waiting in /next, and those left over are refused with
        Runtime.Unavailable, as RIE's LMI mode does (tests/rie/test_conformance.py): they are not queued until a
        worker is free."""
        held, self._pending = self._pending[self._idle :], self._pending[: self._idle]
        for invocation in held:
            self._finish(invocation, Result("unavailable", _UNAVAILABLE, {}, time.monotonic()))
            invocation.ended_at = time.monotonic()
            invocation.ended.set()

    def _running(self, request_id: str) -> _Record | None:
        if self.concurrency is None:
            current = self._current
            return current if current is not None and current.request_id == request_id else None
        return next((invocation for invocation in self._busy.values() if invocation.request_id == request_id), None)

    def _dispatch(self) -> _Record | None:
        """Wait, holding the lock, until the next invocation may start, and start it; None: the server stops."""
        while not (self._current is None and self._pending and self._init_complete()):
            if not self._cond.wait(timeout=1.0) and self._httpd.stopping:
                return None
        invocation = self._pending.pop(0)
        self._current = invocation
        _stamp_dispatch(invocation)
        invocation.extensions_pending = {e.id for e in self._extensions.values() if "INVOKE" in e.events}
        for extension in self._extensions.values():
            if "INVOKE" in extension.events:
                extension.queue.append(self._invoke_event(invocation))
        self._cond.notify_all()
        return invocation

    def _event_headers(self, invocation: _Record) -> dict[str, str]:
        extra = dict(invocation.headers)
        return {
            "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
            "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": self.function_arn,
            "Content-Type": extra.pop("Content-Type", "application/json"),
            **extra,
        }

    def _init_complete(self) -> bool:
        # Init completes when every registered extension has called /extension/event/next once (platform §3.3).
        if not self._init_done:
            self._init_done = all(extension.waiting for extension in self._extensions.values())
            if self._init_done:
                self.initialized.set()
        return self._init_done

    def _post_result(
        self, request_id: str, kind: str, request: Recorded, reply: Callable[[int, dict[str, str], bytes], None]
    ) -> None:
        with self._cond:
            invocation = self._running(request_id)
            if invocation is None:
                reply(400, {}, _error("InvalidRequestID", "Invalid request ID"))
                return
            if invocation.result is not None:
                reply(403, {}, _error("InvalidStateTransition", "State transition from ResponseSent failed"))
                return
            streamed = request.headers.get(RESPONSE_MODE_HEADER.lower()) == "streaming"
            if len(request.body) > (MAX_STREAMED if streamed else MAX_PAYLOAD):
                self._finish(invocation, Result("error", _error("Function.ResponseSizeTooLarge",
                    "Response payload size exceeded maximum allowed payload size (6291556 bytes)."),
                    {}, time.monotonic()))  # fmt: skip
                reply(
                    413,
                    {},
                    _error("RequestEntityTooLarge", f"Exceeded maximum allowed payload size ({MAX_PAYLOAD} bytes)."),
                )
                return
            result = Result(kind, request.body, request.headers, request.at, request.chunks, request.trailers)
            self._finish(invocation, result)
        reply(202, {}, b'{"status":"OK"}')

    def _post_init_error(self, request: Recorded, reply: Callable[[int, dict[str, str], bytes], None]) -> None:
        with self._cond:
            # RAPID takes an init error only in its Started state: not a second one, and not once the runtime has
            # called /next (registration closed then), whether an invocation runs or not (platform §1.2).
            if self._init_error is not None or not self._registration_open:
                state = "InitError" if self._init_error is not None else "Ready"
                reply(403, {}, _error("InvalidStateTransition", f"State transition from {state} to InitError failed"))
                return
            self._init_error = Result("init_error", request.body, request.headers, request.at)
            self._cond.notify_all()
        reply(202, {}, b'{"status":"OK"}')

    def _restore_next(self, request: Recorded, reply: Callable[[int, dict[str, str], bytes], None]) -> None:
        # Only during init: once the runtime has called /next, there is no snapshot left to take. The snapshot and
        # the restore are not emulated: the reply comes at once, as right after a restore.
        with self._cond:
            allowed = self._registration_open and self._init_error is None
        if not allowed:
            reply(403, {}, _error("InvalidStateTransition", "State transition from Ready to RestoreNext failed"))
            return
        reply(200, {}, b"")

    def _post_restore_error(self, request: Recorded, reply: Callable[[int, dict[str, str], bytes], None]) -> None:
        with self._cond:
            self._restore_error = Result("restore_error", request.body, request.headers, request.at)
            self._cond.notify_all()
        reply(202, {}, b'{"status":"OK"}')

    def _register(self, request: Recorded, reply: Callable[[int, dict[str, str], bytes], None]) -> None:
        # RAPID's order of checks (rapi/handler/agentregister.go, core/registrations.go): name, body, events, then
        # closed registration, the limit of 10, a name already taken (platform §3.1-3.3).
        name = request.headers.get("lambda-extension-name", "")
        if not name:
            reply(403, {}, _error("Extension.InvalidExtensionName", "Empty extension name"))
            return
        events = _register_events(request.body)
        if isinstance(events, str):
            reply(403, {}, _error("InvalidRequestFormat", events))
            return
        invalid = next((event for event in events if event != "INVOKE"), None)
        if invalid is not None:
            # Every extension registered with this server is internal (no executable in /opt/extensions), and an
            # internal extension may not subscribe to SHUTDOWN (platform §3.2).
            why = "ShutdownEventNotSupportedForInternalExtension" if invalid == "SHUTDOWN" else "ErrorInvalidEventType"
            reply(403, {}, _error("Extension.InvalidEventType", f"{invalid}: {why}"))
            return
        with self._cond:
            if not self._registration_open:
                reply(403, {}, _error("Extension.RegistrationClosed", "Extension registration closed already"))
            elif len(self._extensions) >= MAX_EXTENSIONS:
                reply(403, {}, _error("Extension.TooManyExtensions", f"Extension limit ({MAX_EXTENSIONS}) reached"))
            elif any(extension.name == name for extension in self._extensions.values()):
                reply(403, {}, _error("Extension.InvalidExtensionState", "Extension with this name already registered"))
            else:
                extension = _Extension(str(uuid.uuid4()), name, list(events))
                self._extensions[extension.id] = extension
                body = json.dumps({"functionName": self.function_name, "functionVersion": "$LATEST", "handler": ""})
                reply(200, {"Lambda-Extension-Identifier": extension.id}, body.encode())

    def _extension_next(self, request: Recorded, reply: Callable[[int, dict[str, str], bytes], None]) -> None:
        header = request.headers.get("lambda-extension-identifier", "")
        if not header:
            reply(403, {}, _error("Extension.MissingExtensionIdentifier", "Missing Lambda-Extension-Identifier header"))
            return
        try:
            # RAPID parses the identifier as a UUID before it looks the extension up (rapi/middleware).
            extension_id = str(uuid.UUID(header))
        except ValueError:
            reply(403, {}, _error("Extension.InvalidExtensionIdentifier", "Invalid Lambda-Extension-Identifier"))
            return
        with self._cond:
            extension = self._extensions.get(extension_id)
            if extension is None:
                reply(403, {}, _error("Extension.UnknownExtensionIdentifier", f"Unknown extension {extension_id}"))
                return
            extension.waiting = True
            current = self._current
            if current is not None and extension.id in current.extensions_pending and not extension.queue:
                current.extensions_pending.discard(extension.id)
                self._maybe_end(current)
            self._cond.notify_all()
            while not extension.queue:
                if not self._cond.wait(timeout=1.0) and self._httpd.stopping:
                    return
                if extension.id not in self._extensions:
                    return
            event = extension.queue.pop(0)
            extension.waiting = False
        reply(200, {"Lambda-Extension-Event-Identifier": str(uuid.uuid4())}, event)

    def _invoke_event(self, invocation: _Record) -> bytes:
        return json.dumps(
            {
                "eventType": "INVOKE",
                "deadlineMs": invocation.deadline_ms,
                "requestId": invocation.request_id,
                "invokedFunctionArn": self.function_arn,
            }
        ).encode()

    def _maybe_end(self, invocation: _Record) -> None:
        if invocation.runtime_next and not invocation.extensions_pending and invocation.result is not None:
            invocation.ended_at = time.monotonic()
            invocation.ended.set()
            if self._current is invocation:
                self._current = None

    def _finish(self, invocation: _Record, result: Result) -> None:
        invocation.result = result
        invocation.done.set()

    def _find(self, request_id: str) -> _Record:
        with self._cond:
            return self._all[request_id]


_UNAVAILABLE = b'{"errorType":"Runtime.Unavailable","errorMessage":"no worker is free: every one is busy"}'

_ROUTES = {
    RUNTIME + "/invocation/next": ("GET", "next", ""),
    RUNTIME + "/init/error": ("POST", "init_error", ""),
    # SnapStart: the runtime waits here while the snapshot is taken; the reply means "restored" (platform §1.6).
    RUNTIME + "/restore/next": ("GET", "restore_next", ""),
    RUNTIME + "/restore/error": ("POST", "restore_error", ""),
    EXTENSION + "/register": ("POST", "register", ""),
    EXTENSION + "/event/next": ("GET", "event_next", ""),
}


def _stamp_dispatch(invocation: _Record) -> None:
    """The invocation goes to the runtime now; its deadline runs from this moment, as in Lambda."""
    invocation.dispatched_at = time.monotonic()
    invocation.deadline_ms = int((time.time() + invocation.timeout_s) * 1000)


def _route(path: str) -> tuple[str, str, str] | None:
    """(method, name, request id) of the Runtime or Extensions API route that serves `path`, matched as RAPID's
    router does; None: no route."""
    path = path.partition("?")[0]
    if path in _ROUTES:
        return _ROUTES[path]
    request_id, _, verb = path.removeprefix(RUNTIME + "/invocation/").partition("/")
    if path.startswith(RUNTIME + "/invocation/") and request_id and verb in ("response", "error"):
        return "POST", verb, request_id
    return None


def _register_events(body: bytes) -> list[str] | str:
    """The events of a register body, or why RAPID rejects the body: it must be a JSON object (an empty body is not),
    `events` a list of strings or null, and the deprecated `configurationKeys` absent."""
    try:
        document = json.loads(body)
    except ValueError as exc:
        return f"Request body is not valid JSON: {exc}"
    if not isinstance(document, dict):
        return "Request body is not a JSON object"
    if document.get("configurationKeys"):
        return "configurationKeys are deprecated; use environment variables instead"
    events = document.get("events")
    if events is None:
        return []
    if not isinstance(events, list) or not all(isinstance(event, str) for event in events):
        return "events must be a list of strings"
    return [str(event) for event in events]


def invoke_headers(client_context: str | None) -> dict[str, str]:
    """The `/next` headers of an Invoke call: its `X-Amz-Client-Context` (base64 JSON) decoded, as RIE does it.

    Raises ValueError when the value is not base64 of UTF-8 text.
    """
    if not client_context:
        return {}
    import base64
    import binascii

    try:
        return {"Lambda-Runtime-Client-Context": base64.b64decode(client_context, validate=True).decode()}
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError(f"X-Amz-Client-Context is not base64 of UTF-8 text: {exc}") from None


def _error(error_type: str, message: str) -> bytes:
    return json.dumps({"errorMessage": message, "errorType": error_type}).encode()


class _Httpd(ThreadingHTTPServer):
    daemon_threads = True
    api: LambdaApiServer
    stopping = False

    def shutdown(self) -> None:
        self.stopping = True
        super().shutdown()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A runtime killed mid-request resets its connections; that is a case under test, not a server fault.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # One write per reply, sent at once: a head and a body written apart meet Nagle's algorithm and the client's
    # delayed ACK, which stalls every small reply by 40 ms.
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True
    server: _Httpd

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        chunks: list[tuple[float, int]] = []
        trailers: dict[str, str] = {}
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            live = self.server.api._live(self.path, {k.lower(): v for k, v in self.headers.items()})
            body = self._read_chunked(chunks, trailers, live)
        else:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
        request = Recorded(
            self.command,
            self.path,
            {k.lower(): v for k, v in self.headers.items()},
            body,
            time.monotonic(),
            connection=f"{self.client_address[0]}:{self.client_address[1]}",
            alive=self._peer_open,
            chunks=chunks,
            trailers=trailers,
        )
        self.server.api.requests.append(request)

        def reply(status: int, headers: dict[str, str], payload: bytes) -> None:
            request.status = status
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            # Taken before a byte can leave (wfile is buffered; flush() sends), so whatever the client does on
            # receiving the reply is recorded later: `replied_at <= a later request's at` cannot race.
            request.replied_at = time.monotonic()
            self.wfile.write(payload)
            self.wfile.flush()

        self.server.api.handle(request, reply)

    def _read_chunked(
        self, chunks: list[tuple[float, int]], trailers: dict[str, str], live: list[tuple[float, bytes]] | None
    ) -> bytes:
        """A chunked body (RFC 9112 §7.1), each chunk's arrival time recorded (a streamed response's timing) and,
        for a response, each chunk passed on to the caller's side (`live`) as it arrives."""
        parts = []
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                break
            parts.append(self.rfile.read(size))
            chunks.append((time.monotonic(), size))
            if live is not None:
                live.append((chunks[-1][0], parts[-1]))
            self.rfile.readline()  # the CRLF after the chunk
        while True:
            line = self.rfile.readline().strip()
            if not line:
                break
            name, _, value = line.decode("latin-1").partition(":")
            trailers[name.strip().lower()] = value.strip()
        return b"".join(parts)

    def _peer_open(self) -> bool:
        import select
        import socket

        readable, _, _ = select.select([self.connection], [], [], 0)
        if not readable:
            return True
        try:
            return bool(self.connection.recv(1, socket.MSG_PEEK))
        except OSError:
            return False

    do_GET = _serve
    do_POST = _serve
