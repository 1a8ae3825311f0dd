"""Conformance of `emulator.server.LambdaApiServer` with the real RIE: one scripted sequence of raw Runtime API
and Extensions API requests goes once to RIE and once to our server, and every step must get the same HTTP status and
the same `errorType` in its body (None: no JSON error body).

The test plays every party itself, each on its own keep-alive HTTP connection and its own thread (`/next` and
`/extension/event/next` block): the runtime, one internal extension ("ext", events ["INVOKE"]), an "intruder" that
sends the requests a broken runtime or extension might send, and the caller, who starts invocations (RIE: a POST to
its invoke endpoint; our server: `submit()`). RIE's runtime command is `sleep 60`, so nothing but the test speaks the
Runtime API. RIE starts that command at the first invocation, not at its own start-up, and gives it
AWS_LAMBDA_RUNTIME_API = its `--runtime-api-address` (test_rie_starts_the_runtime_at_the_first_invocation); so the
script starts with an invocation and waits for the runtime process before it registers the extension ("during init").

What RIE answers (EXPECTED; docs/platform.md §1.2, §3): extension checks in RAPID's order (name,
body, event types, then closed registration and a name already taken), so a late registration with a bad event is
InvalidEventType, not RegistrationClosed; an event/next identifier that is not a UUID is InvalidExtensionIdentifier;
a second `/next` while the invocation runs gets the same invocation again (200, RAPID's Running state); `/response`
or `/error` for the id of a finished invocation is 400 while nothing runs but 403 while that invocation still waits
for its extension; `/runtime/init/error` is 403 once the runtime has called `/next`, and after a first init error
(where `/next` is 403 too); an unknown path is a plain-text 404 and a known path with another method an empty 405
(RAPID's router; no errorType).

The one intended difference, asserted for each side (test_caller_timing_*): the caller's result. Our server gives it
the moment the runtime POSTs `/response`, as Lambda does; RIE holds it until the runtime has called `/next` and the
INVOKE extension `/extension/event/next` again (§2.2). Not in the script, as RIE-only artefacts: before the first
invocation RIE already answers `/extension/register` (200, empty function name) and a `/next` then panics its handler
and drops the connection; Lambda starts init with the environment, so there is no such "before".
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from dataclasses import dataclass, field

import pytest

from emulator.server import LambdaApiServer, Result
from tests.rie import _START_LOCK
from tests.support import RIE_BINARY, Rie, base_env

pytestmark = pytest.mark.rie

WAIT_S = 10.0  # the bound of every request and every join
QUIET_S = 0.3  # how long a reply that must not come yet is watched for
RUNTIME = "/2018-06-01/runtime"
EXTENSION = "/2020-01-01/extension"
INVOKE_PATH = "/2015-03-31/functions/function/invocations"
MAX_PAYLOAD = 6 * 1024 * 1024 + 100

Answer = tuple[int, str | None]


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes

    @property
    def answer(self) -> Answer:
        return self.status, error_type(self.body)

    def json(self) -> dict[str, object]:
        document = json.loads(self.body)
        assert isinstance(document, dict)
        return document


def error_type(body: bytes) -> str | None:
    try:
        document = json.loads(body)
    except ValueError:
        return None
    value = document.get("errorType") if isinstance(document, dict) else None
    return value if isinstance(value, str) else None


class Actor:
    """One party: its own keep-alive connection and thread, so its requests go in order and a blocking next holds up
    nobody else."""

    def __init__(self, name: str, port: int) -> None:
        self.name = name
        self._connection = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT_S)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix=f"conformance-{name}")

    def send(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> Future[Reply]:
        return self._thread.submit(self._send, method, path, body, headers or {})

    def call(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> Reply:
        return self.send(method, path, body, headers).result(WAIT_S)

    def _send(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> Reply:
        self._connection.request(method, path, body=body, headers=headers)
        response = self._connection.getresponse()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())

    def close(self) -> None:
        """Unblock a pending next (its reply will never come) by shutting the socket down under it."""
        sock = self._connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._connection.close()
        self._thread.shutdown(wait=True, cancel_futures=True)


class Side:
    """One implementation of the Runtime API under test, and its caller."""

    name: str
    api_port: int

    def invoke(self, event: bytes) -> Future[Reply]:
        raise NotImplementedError

    def await_init_started(self) -> None:
        """Return once the environment is in its init phase (the runtime has been started)."""

    def await_ended(self, request_id: str, caller: Future[Reply]) -> Reply:
        """The caller's result, once the invocation has ended (the runtime and the extension called next again)."""
        return caller.result(WAIT_S)

    def close(self) -> None:
        raise NotImplementedError


class RieSide(Side):
    name = "rie"

    def __init__(self) -> None:
        if not RIE_BINARY.exists():
            raise AssertionError(f"{RIE_BINARY} is missing: `make setup` fetches it")
        with _START_LOCK:
            self.rie = Rie(["sleep", "60"], base_env())
        self.api_port = self.rie.api_port
        self.caller = Actor("caller", self.rie.port)
        time.sleep(0.1)  # give RIE the chance to start its runtime early, if it did that
        self.children_before_invoke = children(self.rie.process.pid)
        self.runtime_pid = 0
        self.runtime_env: dict[str, str] = {}

    def invoke(self, event: bytes) -> Future[Reply]:
        return self.caller.send("POST", INVOKE_PATH, event)

    def await_init_started(self) -> None:
        deadline = time.monotonic() + WAIT_S
        while not (pids := children(self.rie.process.pid)):
            assert time.monotonic() < deadline, f"RIE started no runtime:\n{self.rie.process.output()}"
            time.sleep(0.01)
        self.runtime_pid = pids[0]
        with open(f"/proc/{self.runtime_pid}/environ", "rb") as environ:
            pairs = (item.decode().partition("=") for item in environ.read().split(b"\0") if item)
            self.runtime_env = {name: value for name, _, value in pairs}

    def close(self) -> None:
        self.caller.close()
        if self.runtime_pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.runtime_pid, signal.SIGKILL)
        self.rie.stop()


class ServerSide(Side):
    name = "server"

    def __init__(self) -> None:
        self.server = LambdaApiServer(timeout_s=30).start()
        self.api_port = int(self.server.address.rpartition(":")[2])
        self._callers = ThreadPoolExecutor(2, thread_name_prefix="conformance-caller")
        self._submitted: list[str] = []

    def invoke(self, event: bytes) -> Future[Reply]:
        request_id = self.server.submit(event)
        self._submitted.append(request_id)
        return self._callers.submit(self._result, request_id)

    def _result(self, request_id: str) -> Reply:
        result = self.server.result(request_id, WAIT_S)
        # A response or a function error is a 200 from Lambda's Invoke API (and from RIE's invoke endpoint).
        return Reply(200 if result.kind in ("response", "error") else 500, {}, result.body)

    def await_ended(self, request_id: str, caller: Future[Reply]) -> Reply:
        self.server.wait_ended(request_id, WAIT_S)
        return caller.result(WAIT_S)

    def close(self) -> None:
        for request_id in self._submitted:  # release callers still waiting (the init error script's)
            self.server.fail(request_id, Result("reset", b"", {}, time.monotonic()))
        self.server.stop()
        self._callers.shutdown(wait=True, cancel_futures=True)


def children(pid: int) -> list[int]:
    """The pids of the processes whose parent is `pid` (Linux /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError), open(f"/proc/{entry}/stat") as stat:
                # The command name, field 2, is in parentheses and may hold spaces: the ppid follows the last ")".
                if int(stat.read().rpartition(")")[2].split()[1]) == pid:
                    found.append(int(entry))
    return found


def settles(future: Future[Reply], within_s: float) -> bool:
    return bool(wait_for([future], timeout=within_s).done)


@dataclass
class Transcript:
    """What one side answered: (step, (status, errorType)) in order, facts that must agree between the sides, and
    the caller-side timing, which must not."""

    steps: list[tuple[str, Answer]] = field(default_factory=list)
    facts: dict[str, object] = field(default_factory=dict)
    timing: dict[str, bool] = field(default_factory=dict)

    def record(self, step: str, reply: Reply) -> Reply:
        self.steps.append((step, reply.answer))
        return reply


def register(name: str | None, body: bytes) -> tuple[str, str, bytes, dict[str, str]]:
    return "POST", EXTENSION + "/register", body, {} if name is None else {"Lambda-Extension-Name": name}


INVOKE_ONLY = b'{"events": ["INVOKE"]}'


def conformance_script(side: Side) -> Transcript:
    t = Transcript()
    runtime, ext, intruder = (Actor(name, side.api_port) for name in ("runtime", "ext", "intruder"))
    try:
        # Init: invocation 1 is pending, the runtime has been started and has not called /next yet.
        caller1 = side.invoke(b'{"n": 1}')
        side.await_init_started()
        registered = t.record("register ext, events [INVOKE]", ext.call(*register("ext", INVOKE_ONLY)))
        ext_id = registered.headers.get("lambda-extension-identifier", "")
        t.facts["register gives an identifier"] = bool(ext_id)
        for step, request in [
            ("register, events [SHUTDOWN] (internal)", register("shut", b'{"events": ["SHUTDOWN"]}')),
            ("register, events [INVOKE, SHUTDOWN]", register("both", b'{"events": ["INVOKE", "SHUTDOWN"]}')),
            ("register, empty name", register("", INVOKE_ONLY)),
            ("register, no name header", register(None, INVOKE_ONLY)),
            ("register, unknown event type", register("foo", b'{"events": ["FOO"]}')),
            ("register, body not JSON", register("bad", b'{"events":')),
            ("register, empty body", register("empty", b"")),
            ("register, body a JSON list", register("list", b"[]")),
            ("register, configurationKeys", register("keys", b'{"configurationKeys": ["k"]}')),
            ("register, name already taken", register("ext", INVOKE_ONLY)),
            ("register, name taken and bad event", register("ext", b'{"events": ["FOO"]}')),
            ("GET /extension/register", ("GET", EXTENSION + "/register", b"", {})),
        ]:
            t.record(step, intruder.call(*request))
        for step, headers in [
            ("event/next, no identifier", {}),
            ("event/next, unknown identifier", {"Lambda-Extension-Identifier": str(uuid.uuid4())}),
            ("event/next, identifier not a UUID", {"Lambda-Extension-Identifier": "not-a-uuid"}),
        ]:
            t.record(step, intruder.call("GET", EXTENSION + "/event/next", headers=headers))
        t.record("POST /extension/event/next", intruder.call("POST", EXTENSION + "/event/next"))
        t.record("POST /runtime/invocation/next", intruder.call("POST", RUNTIME + "/invocation/next"))
        t.record("/response before any invocation", intruder.call("POST", RUNTIME + "/invocation/none/response"))

        # The extension's first event/next, then the runtime's first /next: init ends, invocation 1 starts.
        ext_next = ext.send("GET", EXTENSION + "/event/next", headers={"Lambda-Extension-Identifier": ext_id})
        first = t.record("runtime's first /next", runtime.send("GET", RUNTIME + "/invocation/next").result(WAIT_S))
        request_id = first.headers.get("lambda-runtime-aws-request-id", "")
        path = f"{RUNTIME}/invocation/{request_id}"
        event = t.record("ext's event/next: INVOKE", ext_next.result(WAIT_S)).json()
        t.facts["the INVOKE event names the invocation"] = (
            event.get("eventType"),
            event.get("requestId") == request_id,
        )
        t.facts["the runtime gets the event"] = first.body
        t.record("late register, events [INVOKE]", intruder.call(*register("late", INVOKE_ONLY)))
        t.record("late register, unknown event type", intruder.call(*register("late", b'{"events": ["FOO"]}')))
        t.record("late register, empty name", intruder.call(*register("", INVOKE_ONLY)))
        t.record("/init/error while running", intruder.call("POST", RUNTIME + "/init/error", b"{}"))
        again = t.record("/next again while running", intruder.call("GET", RUNTIME + "/invocation/next"))
        same_id = again.headers.get("lambda-runtime-aws-request-id") == request_id
        t.facts["a second /next gets the same invocation"] = (again.body, same_id)
        t.record("/response, wrong request id", intruder.call("POST", RUNTIME + "/invocation/wrong/response", b"{}"))
        t.record("/error, wrong request id", intruder.call("POST", RUNTIME + "/invocation/wrong/error", b"{}"))
        t.record("GET /response", intruder.call("GET", path + "/response"))
        t.record("/response", runtime.call("POST", path + "/response", b'{"ok": 1}'))

        # §2.2: our server answers the caller now; RIE only after the runtime's and the extension's next.
        t.timing["result before the runtime's /next"] = settles(caller1, QUIET_S)
        t.record("second /response", runtime.call("POST", path + "/response", b"{}"))
        t.record("/error after /response", runtime.call("POST", path + "/error", b"{}"))
        t.record("/init/error after init", runtime.call("POST", RUNTIME + "/init/error", b"{}"))
        t.record("unknown path", intruder.call("GET", RUNTIME + "/nope"))
        t.record("unknown verb", intruder.call("POST", path + "/nope", b"{}"))
        runtime_next = runtime.send("GET", RUNTIME + "/invocation/next")
        t.timing["result before the extension's event/next"] = settles(caller1, QUIET_S)
        t.record("/response while the ext still runs", intruder.call("POST", path + "/response", b"{}"))
        t.record("/init/error while the runtime waits", intruder.call("POST", RUNTIME + "/init/error", b"{}"))
        ext_next = ext.send("GET", EXTENSION + "/event/next", headers={"Lambda-Extension-Identifier": ext_id})
        result = t.record("caller's result 1", side.await_ended(request_id, caller1))
        t.facts["caller's body 1"] = result.body
        t.record("/response after the invocation ended", intruder.call("POST", path + "/response", b"{}"))
        t.record("/error after the invocation ended", intruder.call("POST", path + "/error", b"{}"))
        t.record("/init/error between invocations", intruder.call("POST", RUNTIME + "/init/error", b"{}"))

        # Invocation 2: a response 1 byte over the limit.
        caller2 = side.invoke(b'{"n": 2}')
        second = t.record("runtime's /next 2", runtime_next.result(WAIT_S))
        t.record("ext's event/next 2", ext_next.result(WAIT_S))
        request_id = second.headers.get("lambda-runtime-aws-request-id", "")
        path = f"{RUNTIME}/invocation/{request_id}"
        t.record("/response of 6 MiB + 101 bytes", runtime.call("POST", path + "/response", b"x" * (MAX_PAYLOAD + 1)))
        t.record("/response after 413", runtime.call("POST", path + "/response", b"{}"))
        t.record("/error after 413", runtime.call("POST", path + "/error", b"{}"))
        runtime_next = runtime.send("GET", RUNTIME + "/invocation/next")
        ext_next = ext.send("GET", EXTENSION + "/event/next", headers={"Lambda-Extension-Identifier": ext_id})
        t.record("caller's result 2", side.await_ended(request_id, caller2))

        # Invocation 3: a response of exactly the limit.
        caller3 = side.invoke(b'{"n": 3}')
        request_id = t.record("runtime's /next 3", runtime_next.result(WAIT_S)).headers["lambda-runtime-aws-request-id"]
        t.record("ext's event/next 3", ext_next.result(WAIT_S))
        path = f"{RUNTIME}/invocation/{request_id}"
        t.record("/response of 6 MiB + 100 bytes", runtime.call("POST", path + "/response", b"x" * MAX_PAYLOAD))
        runtime_next = runtime.send("GET", RUNTIME + "/invocation/next")
        ext_next = ext.send("GET", EXTENSION + "/event/next", headers={"Lambda-Extension-Identifier": ext_id})
        t.facts["caller's body 3 has the limit's size"] = len(side.await_ended(request_id, caller3).body) == MAX_PAYLOAD

        # Invocation 4: a function error.
        caller4 = side.invoke(b'{"n": 4}')
        request_id = t.record("runtime's /next 4", runtime_next.result(WAIT_S)).headers["lambda-runtime-aws-request-id"]
        t.record("ext's event/next 4", ext_next.result(WAIT_S))
        path = f"{RUNTIME}/invocation/{request_id}"
        error = b'{"errorType": "Boom", "errorMessage": "boom"}'
        error_header = {"Lambda-Runtime-Function-Error-Type": "Runtime.Boom"}
        t.record("/error", runtime.call("POST", path + "/error", error, error_header))
        t.record("/response after /error", runtime.call("POST", path + "/response", b"{}"))
        t.record("second /error", runtime.call("POST", path + "/error", b"{}"))
        runtime.send("GET", RUNTIME + "/invocation/next")
        ext.send("GET", EXTENSION + "/event/next", headers={"Lambda-Extension-Identifier": ext_id})
        t.record("caller's result 4", side.await_ended(request_id, caller4))
    finally:
        for actor in (runtime, ext, intruder):
            actor.close()
    return t


def init_error_script(side: Side) -> Transcript:
    t = Transcript()
    runtime, intruder = Actor("runtime", side.api_port), Actor("intruder", side.api_port)
    try:
        caller = side.invoke(b"{}")
        side.await_init_started()
        error = b'{"errorType": "Boom", "errorMessage": "init failed"}'
        headers = {"Lambda-Runtime-Function-Error-Type": "Runtime.Boom"}
        t.record("/init/error during init", runtime.call("POST", RUNTIME + "/init/error", error, headers))
        t.record("second /init/error", intruder.call("POST", RUNTIME + "/init/error", b"{}"))
        t.record("/next after /init/error", runtime.call("GET", RUNTIME + "/invocation/next"))
        # RIE answers the caller when the runtime process exits; our emulator does that, not the server.
        t.facts["caller's result while the runtime lives"] = settles(caller, QUIET_S)
    finally:
        runtime.close()
        intruder.close()
    return t


EXPECTED: list[tuple[str, Answer]] = [
    ("register ext, events [INVOKE]", (200, None)),
    ("register, events [SHUTDOWN] (internal)", (403, "Extension.InvalidEventType")),
    ("register, events [INVOKE, SHUTDOWN]", (403, "Extension.InvalidEventType")),
    ("register, empty name", (403, "Extension.InvalidExtensionName")),
    ("register, no name header", (403, "Extension.InvalidExtensionName")),
    ("register, unknown event type", (403, "Extension.InvalidEventType")),
    ("register, body not JSON", (403, "InvalidRequestFormat")),
    ("register, empty body", (403, "InvalidRequestFormat")),
    ("register, body a JSON list", (403, "InvalidRequestFormat")),
    ("register, configurationKeys", (403, "InvalidRequestFormat")),
    ("register, name already taken", (403, "Extension.InvalidExtensionState")),
    ("register, name taken and bad event", (403, "Extension.InvalidEventType")),
    ("GET /extension/register", (405, None)),
    ("event/next, no identifier", (403, "Extension.MissingExtensionIdentifier")),
    ("event/next, unknown identifier", (403, "Extension.UnknownExtensionIdentifier")),
    ("event/next, identifier not a UUID", (403, "Extension.InvalidExtensionIdentifier")),
    ("POST /extension/event/next", (405, None)),
    ("POST /runtime/invocation/next", (405, None)),
    ("/response before any invocation", (400, "InvalidRequestID")),
    ("runtime's first /next", (200, None)),
    ("ext's event/next: INVOKE", (200, None)),
    ("late register, events [INVOKE]", (403, "Extension.RegistrationClosed")),
    ("late register, unknown event type", (403, "Extension.InvalidEventType")),
    ("late register, empty name", (403, "Extension.InvalidExtensionName")),
    ("/init/error while running", (403, "InvalidStateTransition")),
    ("/next again while running", (200, None)),
    ("/response, wrong request id", (400, "InvalidRequestID")),
    ("/error, wrong request id", (400, "InvalidRequestID")),
    ("GET /response", (405, None)),
    ("/response", (202, None)),
    ("second /response", (403, "InvalidStateTransition")),
    ("/error after /response", (403, "InvalidStateTransition")),
    ("/init/error after init", (403, "InvalidStateTransition")),
    ("unknown path", (404, None)),
    ("unknown verb", (404, None)),
    ("/response while the ext still runs", (403, "InvalidStateTransition")),
    ("/init/error while the runtime waits", (403, "InvalidStateTransition")),
    ("caller's result 1", (200, None)),
    ("/response after the invocation ended", (400, "InvalidRequestID")),
    ("/error after the invocation ended", (400, "InvalidRequestID")),
    ("/init/error between invocations", (403, "InvalidStateTransition")),
    ("runtime's /next 2", (200, None)),
    ("ext's event/next 2", (200, None)),
    ("/response of 6 MiB + 101 bytes", (413, "RequestEntityTooLarge")),
    ("/response after 413", (403, "InvalidStateTransition")),
    ("/error after 413", (403, "InvalidStateTransition")),
    ("caller's result 2", (200, "Function.ResponseSizeTooLarge")),
    ("runtime's /next 3", (200, None)),
    ("ext's event/next 3", (200, None)),
    ("/response of 6 MiB + 100 bytes", (202, None)),
    ("runtime's /next 4", (200, None)),
    ("ext's event/next 4", (200, None)),
    ("/error", (202, None)),
    ("/response after /error", (403, "InvalidStateTransition")),
    ("second /error", (403, "InvalidStateTransition")),
    ("caller's result 4", (200, "Boom")),
]

EXPECTED_FACTS: dict[str, object] = {
    "register gives an identifier": True,
    "the INVOKE event names the invocation": ("INVOKE", True),
    "the runtime gets the event": b'{"n": 1}',
    "a second /next gets the same invocation": (b'{"n": 1}', True),
    "caller's body 1": b'{"ok": 1}',
    "caller's body 3 has the limit's size": True,
}

EXPECTED_INIT_ERROR: list[tuple[str, Answer]] = [
    ("/init/error during init", (202, None)),
    ("second /init/error", (403, "InvalidStateTransition")),
    ("/next after /init/error", (403, "InvalidStateTransition")),
]


def run_on(make: Callable[[], Side], script: Callable[[Side], Transcript]) -> tuple[Side, Transcript]:
    side = make()
    try:
        return side, script(side)
    finally:
        side.close()


@pytest.fixture(scope="module")
def rie_run() -> tuple[Side, Transcript]:
    return run_on(RieSide, conformance_script)


@pytest.fixture(scope="module")
def server_run() -> tuple[Side, Transcript]:
    return run_on(ServerSide, conformance_script)


def table(rie: list[tuple[str, Answer]], ours: list[tuple[str, Answer]]) -> str:
    rows = [f"{'step':42} {'RIE':45} server"]
    for (step, expected), (_, got) in zip(rie, ours, strict=False):
        rows.append(f"{step:42} {expected!s:45} {got}{'' if got == expected else '   <-- differs'}")
    return "\n".join(rows)


def test_the_server_answers_every_step_as_rie_does(
    rie_run: tuple[Side, Transcript], server_run: tuple[Side, Transcript]
) -> None:
    rie, ours = rie_run[1], server_run[1]
    assert [step for step, _ in ours.steps] == [step for step, _ in rie.steps]
    assert ours.steps == rie.steps, table(rie.steps, ours.steps)
    assert ours.facts == rie.facts


def test_rie_answers_as_recorded(rie_run: tuple[Side, Transcript]) -> None:
    """EXPECTED is what RIE answered when this test was written: a change of RIE shows here first."""
    transcript = rie_run[1]
    assert transcript.steps == EXPECTED, table(EXPECTED, transcript.steps)
    assert transcript.facts == EXPECTED_FACTS


def test_rie_starts_the_runtime_at_the_first_invocation(rie_run: tuple[Side, Transcript]) -> None:
    side = rie_run[0]
    assert isinstance(side, RieSide)
    assert side.children_before_invoke == []
    assert side.runtime_pid
    assert side.runtime_env["AWS_LAMBDA_RUNTIME_API"] == f"127.0.0.1:{side.api_port}"


def test_caller_timing_rie(rie_run: tuple[Side, Transcript]) -> None:
    """§2.2: RIE answers the caller only after the runtime's /next and the INVOKE extension's event/next."""
    assert rie_run[1].timing == {
        "result before the runtime's /next": False,
        "result before the extension's event/next": False,
    }


def test_caller_timing_server(server_run: tuple[Side, Transcript]) -> None:
    """Our server answers the caller at /response, as Lambda does, before the runtime calls /next again."""
    assert server_run[1].timing == {
        "result before the runtime's /next": True,
        "result before the extension's event/next": True,
    }


def test_init_error_answers() -> None:
    rie = run_on(RieSide, init_error_script)[1]
    ours = run_on(ServerSide, init_error_script)[1]
    assert rie.steps == EXPECTED_INIT_ERROR, table(EXPECTED_INIT_ERROR, rie.steps)
    assert ours.steps == rie.steps, table(rie.steps, ours.steps)
    assert rie.facts == ours.facts == {"caller's result while the runtime lives": False}


# Lambda Managed Instances (RIE's LMI mode, AWS_LAMBDA_MAX_CONCURRENCY set) -----------------------------------------
#
# In that mode RIE starts the runtime at its own start-up, and init ends at the first worker's /next (docs/platform.md
# §6). Invocations that arrive during init are held, not refused; when init ends, RIE routes them at once: one to each
# worker then waiting in /next, `400 Runtime.Unavailable` for the rest (they are not queued for a worker to free up).
# The emulator's concurrent mode (`serve --concurrency N`) must do the same. The test plays the workers itself: the
# runtime RIE starts is `sleep 60`, from /var/task/bootstrap (the only place that mode looks), as uid 993.

LMI_TASK = "/var/task"
LMI_WORKERS = 2
LMI_CALLERS = 3


class LmiRieSide(Side):
    name = "rie-lmi"

    def __init__(self) -> None:
        if os.geteuid() != 0:
            pytest.skip("RIE's LMI mode runs the runtime as uid 993 from /var/task: needs root (CI runs as root)")
        if os.path.exists(LMI_TASK):
            pytest.skip(f"{LMI_TASK} exists on this machine: not overwritten")
        if not RIE_BINARY.exists():
            raise AssertionError(f"{RIE_BINARY} is missing: `make setup` fetches it")
        os.mkdir(LMI_TASK)
        bootstrap = os.path.join(LMI_TASK, "bootstrap")
        with open(bootstrap, "w") as script:
            script.write("#!/bin/sh\nexec sleep 60\n")
        os.chmod(bootstrap, 0o755)
        env = base_env({"AWS_LAMBDA_MAX_CONCURRENCY": str(LMI_WORKERS), "_HANDLER": "none.handler"})
        with _START_LOCK:
            self.rie = Rie([], env)
        self.api_port = self.rie.api_port
        self.callers = [Actor(f"caller{n}", self.rie.port) for n in range(LMI_CALLERS)]

    def invoke_all(self) -> list[Future[Reply]]:
        headers = {"Content-Type": "application/json"}
        return [caller.send("POST", INVOKE_PATH, b'{"n": %d}' % n, headers) for n, caller in enumerate(self.callers)]

    def await_init_started(self) -> None:
        deadline = time.monotonic() + WAIT_S
        while not children(self.rie.process.pid):  # started with RIE itself, not at the first invocation
            assert time.monotonic() < deadline, f"RIE started no runtime:\n{self.rie.process.output()}"
            time.sleep(0.01)

    def close(self) -> None:
        for caller in self.callers:
            caller.close()
        for pid in children(self.rie.process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.rie.stop()
        shutil.rmtree(LMI_TASK, ignore_errors=True)


class LmiServerSide(Side):
    name = "server-lmi"

    def __init__(self) -> None:
        self.server = LambdaApiServer(timeout_s=30, concurrency=LMI_WORKERS, route_at_init_end=True).start()
        self.api_port = int(self.server.address.rpartition(":")[2])
        self._callers = ThreadPoolExecutor(LMI_CALLERS, thread_name_prefix="conformance-caller")
        self._submitted: list[str] = []

    def invoke_all(self) -> list[Future[Reply]]:
        futures = []
        for n in range(LMI_CALLERS):
            request_id = self.server.submit(b'{"n": %d}' % n)
            self._submitted.append(request_id)
            futures.append(self._callers.submit(self._result, request_id))
        return futures

    def _result(self, request_id: str) -> Reply:
        result = self.server.result(request_id, WAIT_S)
        status = {"response": 200, "error": 200, "unavailable": 400}.get(result.kind, 500)
        return Reply(status, {}, result.body)

    def close(self) -> None:
        for request_id in self._submitted:
            self.server.fail(request_id, Result("reset", b"", {}, time.monotonic()))
        self.server.stop()
        self._callers.shutdown(wait=True, cancel_futures=True)


def lmi_init_script(side: Side) -> Transcript:
    assert isinstance(side, (LmiRieSide, LmiServerSide))
    t = Transcript()
    worker = Actor("worker", side.api_port)
    try:
        side.await_init_started()
        callers = side.invoke_all()  # during init: no worker has called /next yet
        t.facts["callers answered during init"] = sum(settles(caller, QUIET_S / LMI_CALLERS) for caller in callers)
        first = t.record("first worker's /next: init ends", worker.call("GET", RUNTIME + "/invocation/next"))
        request_id = first.headers.get("lambda-runtime-aws-request-id", "")
        deadline = time.monotonic() + WAIT_S
        while sum(caller.done() for caller in callers) < LMI_CALLERS - 1 and time.monotonic() < deadline:
            pending = [caller for caller in callers if not caller.done()]
            wait_for(pending, timeout=deadline - time.monotonic(), return_when=FIRST_COMPLETED)
        others = [caller for caller in callers if caller.done()]
        t.facts["answers to the callers left over"] = sorted(caller.result(WAIT_S).answer for caller in others)
        t.record("/response", worker.call("POST", f"{RUNTIME}/invocation/{request_id}/response", b'{"ok": 1}'))
        served = [caller.result(WAIT_S) for caller in callers if caller not in others]
        t.facts["the caller served"] = [(reply.status, reply.body) for reply in served]
        t.facts["it got the event it was sent"] = [json.loads(first.body)["n"]] == [
            n for n, caller in enumerate(callers) if caller not in others
        ]
    finally:
        worker.close()
    return t


EXPECTED_LMI_INIT: list[tuple[str, Answer]] = [
    ("first worker's /next: init ends", (200, None)),
    ("/response", (202, None)),
]
EXPECTED_LMI_INIT_FACTS: dict[str, object] = {
    "callers answered during init": 0,
    "answers to the callers left over": [(400, "Runtime.Unavailable")] * (LMI_CALLERS - 1),
    "the caller served": [(200, b'{"ok": 1}')],
    "it got the event it was sent": True,
}


def test_invocations_that_arrive_during_init_wait_for_it_then_get_a_worker_or_runtime_unavailable() -> None:
    rie = run_on(LmiRieSide, lmi_init_script)[1]
    assert (rie.steps, rie.facts) == (EXPECTED_LMI_INIT, EXPECTED_LMI_INIT_FACTS)
    ours = run_on(LmiServerSide, lmi_init_script)[1]
    assert (ours.steps, ours.facts) == (rie.steps, rie.facts)
