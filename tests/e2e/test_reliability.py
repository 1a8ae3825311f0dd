"""Reliability round 2: each fault an outside attack or a newcomer's trial found, through the real bootstrap."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from emulator.server import LambdaApiServer, Recorded
from tests.conftest import StartRuntime
from tests.rawserver import NEXT_HEAD, RawServer, Script, next_replies, read_request, serve_then_fail
from tests.support import ROOT, Process, base_env, runtime_command, start_runtime


def run(api: LambdaApiServer, event: dict[str, object], timeout_s: float | None = None) -> tuple[str, object]:
    request_id = api.submit(json.dumps(event).encode(), timeout_s=timeout_s)
    result = api.result(request_id)
    api.wait_ended(request_id)
    return request_id, result.json()


def hook_marks(api: LambdaApiServer) -> list[str]:
    return [r.path.rsplit("/", 1)[1] for r in api.requests if "/test/mark/hook-" in r.path]


# 1. A forked child never posts nor runs the phase ------------------------------------------------------------


def test_a_forked_child_that_exits_leaves_the_parent_to_answer(api: LambdaApiServer, start: StartRuntime) -> None:
    process = start("attack.fork")
    request_ids = []
    for child in ("exit", "return", "raise"):
        request_id, result = run(api, {"child": child})
        assert result == {"from": "parent", "pid": process.pid}, child
        request_ids.append(request_id)
    assert len(api.find("/response")) == 3 and not api.find("/error")
    # One phase per invocation, each in the process that fetched it.
    assert sorted(hook_marks(api)) == sorted(f"hook-{process.pid}-{rid}" for rid in request_ids)
    assert "a forked child (pid" in process.output()


def test_a_child_forked_in_the_phase_does_not_fetch_the_next_invocation(
    api: LambdaApiServer, start: StartRuntime
) -> None:
    process = start("attack.fork_in_hook")
    request_ids = [run(api, {})[0], run(api, {})[0]]
    # The parent's three calls: before each invocation and after the last one; none from a child.
    assert len(api.find("/invocation/next")) == 3
    assert sorted(hook_marks(api)) == sorted(f"hook-{process.pid}-{rid}" for rid in request_ids)


# 2. Exit never depends on which thread imported `threading` -----------------------------------------------------


def test_sys_exit_after_the_watchdog_warned_ends_the_process(api: LambdaApiServer, start: StartRuntime) -> None:
    process = start("exit_hang.handler")
    api.submit(b"{}", timeout_s=1.0)
    assert process.wait(10) == 3
    output = process.output()
    assert "watchdog: handler is still running" in output
    assert "the handler called sys.exit(3)" in output


def test_sigterm_after_the_watchdog_warned_ends_the_process(api: LambdaApiServer, start: StartRuntime) -> None:
    process = start("exit_hang.handler", {"RUNTIME_AFTER_RESPONSE_MARGIN_MS": "500"})
    api.submit(b'{"sigterm": true, "until_ms_left": 0}', timeout_s=1.0)
    process.wait_output("watchdog: handler is still running")
    os.kill(process.pid, signal.SIGTERM)
    assert process.wait(10) == 0


# 3 and 4. SIGTERM before or during the phase: hooks get the real invocation, or are named as not run -----------


def test_sigterm_during_a_hook_runs_the_remaining_hooks_with_the_invocation(
    api: LambdaApiServer, start: StartRuntime
) -> None:
    process = start("attack.ok")
    request_id = api.submit(b'{"hook_sleep": 30}')
    api.wait_for(lambda: bool(api.marks("slow-hook-sleeping")))
    os.kill(process.pid, signal.SIGTERM)
    assert process.wait(10) == 0
    assert [r.path.rsplit("/", 1)[1] for r in api.marks(f"after-slow-{request_id}")] == [f"after-slow-{request_id}"]
    assert "interrupted" in process.output()


def test_sigterm_during_the_handler_runs_its_hooks_in_the_shutdown_phase(
    api: LambdaApiServer, start: StartRuntime
) -> None:
    process = start("attack.defer_then_sleep")
    request_id = api.submit(b"{}")
    api.wait_for(lambda: bool(api.marks("handler-sleeping")))
    os.kill(process.pid, signal.SIGTERM)
    assert process.wait(10) == 0
    assert api.marks("deferred-before-sigterm")
    assert hook_marks(api) == [f"hook-{process.pid}-{request_id}"]


def test_a_slow_shutdown_hook_is_named_before_it_is_cut(api: LambdaApiServer, start: StartRuntime) -> None:
    process = start("attack.ok", {"SLOW_SHUTDOWN": "1"})
    run(api, {})
    os.kill(process.pid, signal.SIGTERM)
    api.wait_for(lambda: bool(api.marks("slow-shutdown-running")))  # cut while it runs, as Lambda's SIGKILL does
    process.popen.kill()
    process.wait(10)
    assert "shutdown: running attack.slow_shutdown" in process.output()


# 5. A result is never posted twice -------------------------------------------------------------------------------


def test_a_result_whose_reply_is_lost_is_not_posted_again(raw_api: Callable[[Script], RawServer]) -> None:
    def script(connection: socket.socket, index: int) -> None:
        request = server.read_request(connection)
        if index == 0:
            connection.sendall(NEXT_HEAD + b"Content-Length: 2\r\n\r\n{}")
            server.read_request(connection)  # the whole POST of the result; then the connection drops
            return
        # The runtime goes on with /next on a fresh connection; a 500 then ends it.
        assert request.startswith(b"GET ")
        connection.sendall(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 2\r\n\r\n{}")

    server = raw_api(script)
    process = start_runtime(server.address, "zoo.echo", {"RUNTIME_EXTENSION": "off"})
    try:
        assert process.wait(10) == 2
        posts = [r for r in server.received if r.startswith(b"POST ")]
        assert len(posts) == 1, server.received
        assert server.received[-1].startswith(b"GET /2018-06-01/runtime/invocation/next")
        assert "the result was sent but POST" in process.output() and "counted as delivered" in process.output()
    finally:
        process.stop()


# 6. The GC option never skips collection forever -----------------------------------------------------------------


def test_a_skipped_collection_turns_automatic_collection_back_on(api: LambdaApiServer, start: StartRuntime) -> None:
    # A margin larger than any deadline: every phase is skipped, the collection with it.
    start("attack.make_cycles", {"RUNTIME_GC": "after_response", "RUNTIME_AFTER_RESPONSE_MARGIN_MS": "100000000"})
    freed = [run(api, {"cycles": 500})[1] for _ in range(6)]
    # 3,000 cycles: automatic collection (threshold 700 allocations) must have freed some; before, none ever was.
    assert isinstance(freed[-1], int) and freed[-1] > 0, freed


# 8. Deferred work belongs to the invocation that made it -------------------------------------------------------


def test_a_thread_of_an_earlier_invocation_defers_into_the_open_one(api: LambdaApiServer, start: StartRuntime) -> None:
    # Round 3 (issue 21 item 2): threads are reused by design (pools); a defer() made while an invocation is open
    # joins that invocation's phase, whatever thread makes it.
    start("attack.dispatch")
    first, _ = run(api, {"call": "start_deferring_thread"})
    second, late = run(api, {"call": "let_the_thread_defer"})
    assert api.marks(f"thread-deferred-in-{first}")  # while its invocation was open: accepted, ran in its phase
    assert late == "accepted"
    [deferred_late] = api.marks("thread-deferred-late")
    timing = api.timing(second)
    assert timing.responded_at < deferred_late.at < timing.runtime_next_at  # in the second invocation's phase


def test_a_fire_and_forget_task_does_not_run_in_the_next_phase(api: LambdaApiServer, start: StartRuntime) -> None:
    process = start("attack.dispatch")
    first, _ = run(api, {"call": "ok", "fire_and_forget": True})
    run(api, {"call": "ok", "await_s": 0.2})
    assert not api.marks(f"forgotten-task-of-{first}")
    assert f"cancelled 1 asyncio task(s) left running at the end of the phase of {first}" in process.output()


# 10. A hook's failure is one line, whatever its exception does ---------------------------------------------------


@pytest.mark.parametrize("event", [{"evil_str": True}, {"broken_str": True}])
def test_an_exception_that_cannot_be_described_still_gives_one_line(
    api: LambdaApiServer, start: StartRuntime, event: dict[str, object]
) -> None:
    process = start("attack.ok")
    run(api, event)
    assert run(api, {})[1] == "ok"  # still serving
    output = process.output()
    name = "EvilStr" if "evil_str" in event else "BrokenStr"
    lines = [line for line in output.splitlines() if "after-response: attack.raises_odd_exceptions failed" in line]
    assert len(lines) == 1 and f"{name}: <exception str() failed: {name}>" in lines[0], output
    assert "Logging error" not in output


# 12. The watchdog and time limits ------------------------------------------------------------------------------


def test_an_async_hook_that_blocks_past_its_timeout_is_reported_as_overrun(
    api: LambdaApiServer, start: StartRuntime
) -> None:
    process = start("attack.ok")
    run(api, {"block_async": 0.5})
    output = process.output()
    assert "attack.blocks_synchronously overran its timeout of 200 ms" in output
    assert "attack.blocks_synchronously overran" in output.split("after-response:")[-1]


def test_no_watchdog_alarm_for_a_coroutine_the_runtime_cancels_itself(
    api: LambdaApiServer, start: StartRuntime
) -> None:
    process = start("attack.ok")
    run(api, {"await_forever": True}, timeout_s=1.0)
    output = process.output()
    assert "attack.waits_forever_when_asked timed out after" in output
    assert "watchdog:" not in output


# 13. Configuration and logs --------------------------------------------------------------------------------------


def test_a_bad_runtime_log_level_is_an_init_error(api: LambdaApiServer, start: StartRuntime) -> None:
    process = start("attack.ok", {"RUNTIME_LOG_LEVEL": "verbose"})
    assert process.wait(10) == 1
    error = api.init_error()
    assert error is not None and error.json()["errorType"] == "Runtime.ConfigInvalid"
    assert "RUNTIME_LOG_LEVEL must be one of" in error.json()["errorMessage"]


@pytest.mark.parametrize("env", [{"RUNTIME_LOG_LEVEL": "WARN"}, {"AWS_LAMBDA_LOG_LEVEL": "ERROR"}])
def test_the_summary_record_follows_the_stricter_log_level(
    api: LambdaApiServer, start: StartRuntime, env: dict[str, str]
) -> None:
    process = start("attack.ok", env)
    run(api, {})
    run(api, {"broken_str": True})
    output = process.output()
    assert "after-response: 5 ran" not in output and "after-response: 6 ran" not in output
    assert "attack.raises_odd_exceptions failed" in output  # ERROR records still go out


# 11. Malformed replies: exit 2 with the clear line, never a traceback --------------------------------------------

_HEAD = b"HTTP/1.1 200 OK\r\nLambda-Runtime-Deadline-Ms: 9999999999999\r\n"


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (b"HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: r1\r\nLambda-Runtime-Deadline-Ms: \xb2\r\n"
         b"Content-Length: 2\r\n\r\n{}", "Lambda-Runtime-Deadline-Ms that is not a number"),
        (NEXT_HEAD + b"Content-Length: \xb2\r\n\r\n{}", "bad Content-Length"),
        (b"HTTP/1.1 2\xb20 OK\r\nContent-Length: 2\r\n\r\n{}", "not an HTTP/1.x status line"),
        (NEXT_HEAD + b"Content-Length: 1000000000000\r\n\r\n{}", "a reply body of 1000000000000 bytes"),
        (NEXT_HEAD + b"Content-Length: 100000000000000000000\r\n\r\n{}", "bad Content-Length"),
        (NEXT_HEAD + b"Transfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n", "a reply body of"),
        (_HEAD + b"Lambda-Runtime-Aws-Request-Id: r\xe9\r\nContent-Length: 2\r\n\r\n{}",
         "a request id that cannot go in a request line"),
        (NEXT_HEAD + b"Lambda-Runtime-Trace-Id: Root=1\x00\r\nContent-Length: 2\r\n\r\n{}", "NUL byte"),
    ],
    ids=["unicode-deadline", "unicode-length", "unicode-status", "length-1e12", "length-1e20", "huge-chunk",
         "non-ascii-request-id", "nul-in-trace-id"],
)  # fmt: skip
def test_a_malformed_next_reply_exits_2_with_one_line(
    raw_api: Callable[[Script], RawServer], reply: bytes, message: str
) -> None:
    server = raw_api(next_replies(reply))
    process = start_runtime(server.address, "zoo.echo", {"RUNTIME_EXTENSION": "off"})
    try:
        assert process.wait(10) == 2
        output = process.output()
        lines = [line for line in output.splitlines() if "the Runtime API failed" in line]
        assert len(lines) == 1 and message in lines[0], output
        assert "Traceback" not in output
    finally:
        process.stop()


def test_an_unsolicited_100_continue_is_skipped(raw_api: Callable[[Script], RawServer]) -> None:
    script, received = serve_then_fail(
        b"HTTP/1.1 100 Continue\r\n\r\n" + NEXT_HEAD + b'Content-Length: 8\r\n\r\n{"a": 1}'
    )
    process = start_runtime(raw_api(script).address, "zoo.echo", {"RUNTIME_EXTENSION": "off"})
    try:
        assert process.wait(10) == 2  # the scripted 500 on the second /next
        posts = [r for r in received if r.startswith(b"POST /2018-06-01/runtime/invocation/r1/response")]
        assert len(posts) == 1 and posts[0].endswith(b'{"a": 1}'), received
    finally:
        process.stop()


def test_bytes_after_a_body_do_not_kill_the_invocation(raw_api: Callable[[Script], RawServer]) -> None:
    script, received = serve_then_fail(NEXT_HEAD + b"Content-Length: 2\r\n\r\n{}TRAILING GARBAGE")
    process = start_runtime(raw_api(script).address, "zoo.echo", {"RUNTIME_EXTENSION": "off"})
    try:
        assert process.wait(10) == 2
        posts = [r for r in received if r.startswith(b"POST /2018-06-01/runtime/invocation/r1/response")]
        assert len(posts) == 1, received  # posted, on a fresh connection
        assert "/next answered 500" in process.output()
    finally:
        process.stop()


def test_user_code_default_socket_timeout_does_not_reach_the_runtime(raw_api: Callable[[Script], RawServer]) -> None:
    body = b'{"call": "set_default_timeout", "padding": "' + b"x" * 200_000 + b'"}'
    received: list[bytes] = []

    def script(connection: socket.socket, _: int) -> None:
        while request := read_request(connection):
            received.append(request)
            line = request.split(b"\r\n", 1)[0]
            if b"/test/mark/" in line:
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
            elif b"/invocation/next" not in line:
                # The result: accepted, and the connection closed, so the next /next goes on a new socket.
                connection.sendall(b"HTTP/1.1 202 Accepted\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}")
                return
            elif sum(b"/invocation/next" in r.split(b"\r\n", 1)[0] for r in received) > 2:
                connection.sendall(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 2\r\n\r\n{}")
            else:
                connection.sendall(NEXT_HEAD + b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                                   % len(body) + body[:1000])  # fmt: skip
                time.sleep(1.0)  # the rest of the event after longer than the 0.2 s default timeout the handler set
                connection.sendall(body[1000:])

    process = start_runtime(raw_api(script).address, "attack.dispatch", {"RUNTIME_EXTENSION": "off"})
    try:
        assert process.wait(15) == 2
        assert "/next answered 500" in process.output(), process.output()
        assert len([r for r in received if r.startswith(b"POST ")]) == 2  # both invocations answered
    finally:
        process.stop()


def test_a_unicode_digit_in_a_setting_is_an_init_error(api: LambdaApiServer, start: StartRuntime) -> None:
    process = start("attack.ok", {"RUNTIME_MAX_DEFERRED": "\u00b2"})
    assert process.wait(10) == 1
    error = api.init_error()
    assert error is not None and error.json()["errorType"] == "Runtime.ConfigInvalid"


def test_sigterm_during_a_slow_extension_registration_runs_the_shutdown_path(
    api: LambdaApiServer, start: StartRuntime
) -> None:
    shut_down = threading.Event()

    def slow_register(request: Recorded) -> None:
        if request.path.endswith("/register"):
            shut_down.wait(10)  # answered only once the runtime has exited (or after 10 s, and the test fails)

    api.interceptor = slow_register  # returns None: the server answers as usual
    process = start("init_waits.handler")
    # Init done: the main thread blocks in the wait for the registration's answer, SIGTERM's handler installed.
    api.wait_for(lambda: bool(api.marks("init-waiting")))
    os.kill(process.pid, signal.SIGTERM)
    try:
        assert process.wait(5) == 0
    finally:
        shut_down.set()
    assert not api.find("/invocation/next")  # it never got past the registration
    assert "Traceback" not in process.output()
    assert api.marks("shutdown-hook")


# 9. A module named `runtime` in the task root ------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["runtime.py", "runtime/__init__.py"])
def test_a_user_module_named_runtime_is_a_clear_init_error(api: LambdaApiServer, tmp_path: Path, layout: str) -> None:
    (tmp_path / "app.py").write_text("def handler(event, context):\n    return 'ok'\n")
    (tmp_path / layout).parent.mkdir(exist_ok=True)
    (tmp_path / layout).write_text("VALUE = 1\n")
    # As in the image: the task root is the working directory, the runtime's directory is on PYTHONPATH.
    env = base_env({"AWS_LAMBDA_RUNTIME_API": api.address, "PYTHONPATH": str(ROOT)}, task_root=tmp_path)
    process = Process(runtime_command("app.handler"), env, cwd=tmp_path)
    try:
        assert process.wait(10) == 1
        error = api.init_error()
        assert error is not None, process.output()
        document = error.json()
        assert document["errorType"] == "Runtime.BuiltInModuleConflict"
        assert str(tmp_path / layout.split("/")[0]) in document["errorMessage"]
        assert "rename the module" in document["errorMessage"]
    finally:
        process.stop()
    # awslambdaric has no package of that name: it serves the same function.
    with LambdaApiServer() as other:
        env["AWS_LAMBDA_RUNTIME_API"] = other.address
        reference = Process(runtime_command("app.handler", "awslambdaric"), env, cwd=tmp_path)
        try:
            assert other.invoke(b"{}").json() == "ok"
        finally:
            reference.stop()


def test_a_data_folder_named_runtime_is_no_conflict(api: LambdaApiServer, tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("def handler(event, context):\n    return 'ok'\n")
    (tmp_path / "runtime").mkdir()
    (tmp_path / "runtime" / "settings.json").write_text("{}")  # no __init__.py: not a package that shadows
    env = base_env({"AWS_LAMBDA_RUNTIME_API": api.address, "PYTHONPATH": str(ROOT)}, task_root=tmp_path)
    process = Process(runtime_command("app.handler"), env, cwd=tmp_path)
    try:
        assert api.invoke(b"{}").json() == "ok"
    finally:
        process.stop()
