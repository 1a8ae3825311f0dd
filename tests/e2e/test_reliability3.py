"""Reliability round 3 (issue 21): the most common after-response failures reported as what they are, `defer()` from
reused threads, and the streamed response's faults (a generator ending with a BaseException, a broken or refusing
API mid-stream, SIGTERM mid-stream), each through the real bootstrap."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import threading
from collections.abc import Callable

import pytest

from emulator.server import LambdaApiServer, Result
from tests.conftest import StartRuntime
from tests.rawserver import ACCEPTED, NEXT_HEAD, RawServer, Script, is_next
from tests.support import start_runtime, wait_until


def run(api: LambdaApiServer, event: object, timeout_s: float | None = None) -> tuple[str, Result]:
    request_id = api.submit(json.dumps(event).encode(), timeout_s=timeout_s)
    result = api.result(request_id)
    api.wait_ended(request_id)
    return request_id, result


def mark_names(api: LambdaApiServer, prefix: str) -> list[str]:
    """The names of the marks that start with `prefix`."""
    names = [r.path.rsplit("/", 1)[1] for r in api.requests if r.path.startswith("/test/mark/")]
    return [name for name in names if name.startswith(prefix)]


# 1. A TimeoutError the work raises is its failure, not the runtime's timeout -----------------------------------


@pytest.mark.parametrize(
    ("event", "name", "frame"),
    [
        ({"defer": "sync"}, "round3._raise_timeout", 'raise TimeoutError("the partner took too long (deferred)")'),
        ({"defer": "async"}, "round3._raise_timeout_async", "await asyncio.wait_for(asyncio.sleep(5), 0.01)"),
        ({"hook_raises": "sync"}, "round3.report", 'raise TimeoutError("the partner took too long (sync hook)")'),
        ({"hook_raises": "async"}, "async_report", "await asyncio.wait_for(asyncio.sleep(5), 0.01)"),
    ],
)
def test_a_timeout_error_raised_by_the_work_is_its_failure_with_its_trace(
    api: LambdaApiServer, start: StartRuntime, event: dict[str, str], name: str, frame: str
) -> None:
    process = start("round3.timeouts", {"AWS_LAMBDA_LOG_LEVEL": "INFO"})
    _, result = run(api, event)
    assert result.json() == "ok"
    output = process.wait_output(" timed out in ")  # the phase's summary
    assert f"after-response: {name} failed: TimeoutError" in output
    assert frame in output  # the work's own frame, in its traceback
    assert "timed out after" not in output
    assert f"{name} failed " in output  # the summary counts it as failed


# 2. defer() from a thread joins the open invocation's phase, whoever made the thread --------------------------


@pytest.mark.parametrize(
    ("handler", "how"),
    [
        ("round3.from_threads", "pool"),
        ("round3.from_threads", "thread"),
        ("round3.from_async_threads", "run_in_executor"),
        ("round3.from_async_threads", "to_thread"),
    ],
)
def test_defer_from_a_reused_thread_joins_each_warm_invocations_phase(
    api: LambdaApiServer, start: StartRuntime, handler: str, how: str
) -> None:
    start(handler)
    request_ids = []
    for _ in range(3):  # the first invocation, then warm ones whose pool threads were started before them
        request_id, result = run(api, {"how": how})
        assert result.kind == "response" and result.json() == how, result.body
        request_ids.append(request_id)
    # Each invocation's deferred work ran in its own phase: before its /next, after its response.
    for request_id in request_ids:
        [deferred] = api.marks(f"deferred-{request_id}")
        timing = api.timing(request_id)
        assert timing.responded_at < deferred.at < timing.runtime_next_at


def test_defer_when_no_invocation_is_open_is_refused_with_what_to_do(api: LambdaApiServer, start: StartRuntime) -> None:
    process = start("round3.late_thread")
    run(api, {})
    api.wait_for(lambda: bool(api.marks("refused")))
    output = process.output()
    assert "refused: defer() called while no invocation is open" in output, output
    assert "runtime.testing.invoke()" in output  # what to do, for the unit test that meets it
    assert not api.marks("deferred-late")


# 3. A stream ending with a BaseException ends with the error trailers; the phase runs --------------------------


@pytest.mark.parametrize(
    ("handler", "error_type"),
    [("round3.cancelled_stream", "CancelledError"), ("round3.interrupted_stream", "KeyboardInterrupt")],
)
def test_a_stream_cut_by_a_base_exception_ends_with_the_trailers_and_the_runtime_goes_on(
    api: LambdaApiServer, start: StartRuntime, handler: str, error_type: str
) -> None:
    process = start(handler)
    request_id, result = run(api, {})
    assert result.streamed and result.body == b"one two "
    assert result.stream_error_type == f"Function.{error_type}"
    document = json.loads(base64.b64decode(result.trailers["lambda-runtime-function-error-body"]))
    assert document["errorType"] == error_type
    assert api.marks(f"hook-{request_id}-False-True-2")
    # The same process serves the next invocation: no exit, no cold start.
    second, result = run(api, {})
    assert result.streamed and api.marks(f"hook-{second}-False-True-2")
    assert process.popen.poll() is None


def test_sys_exit_in_a_stream_ends_it_runs_the_phase_then_exits(api: LambdaApiServer, start: StartRuntime) -> None:
    process = start("round3.exiting_stream")
    request_id = api.submit(b"{}")
    result = api.result(request_id)
    assert result.body == b"one two " and result.stream_error_type == "Function.SystemExit"
    assert process.wait(10) == 3
    assert api.marks(f"hook-{request_id}-False-True-2")  # the phase ran before the exit
    assert "the handler called sys.exit(3): the runtime exits" in process.output()


# 6. A broken or refusing API mid-stream is the API's failure, not the function's -------------------------------


def _stream_server(answer: Callable[[socket.socket], None]) -> tuple[Script, list[bytes]]:
    """A Runtime API that hands out one invocation, reads the streamed POST's head and first chunk, then `answer`s;
    it records every request line, and holds a second /next open (the test stops the runtime).

    The function's mark after its first chunk is answered only once `answer` has run, so the rest of the stream is
    written after the API's answer, never before it (had the whole stream gone out first, a reset would come after
    a complete request: a different case, counted as delivered)."""
    lines: list[bytes] = []
    answered = threading.Event()

    def script(connection: socket.socket, _: int) -> None:
        while True:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = connection.recv(65536)
                if not chunk:
                    return
                data += chunk
            lines.append(data.split(b"\r\n", 1)[0])
            if is_next(data):
                if sum(map(is_next, lines)) > 1:
                    connection.recv(1)  # hold the second /next open until the runtime is stopped
                    return
                connection.sendall(NEXT_HEAD + b"Content-Length: 2\r\n\r\n{}")
            elif b"Transfer-Encoding: chunked" in data:
                body = data.partition(b"\r\n\r\n")[2]
                while b"\r\n" not in body or len(body) < 1000:  # the first chunk, 1000 bytes
                    body += connection.recv(65536)
                answer(connection)
                answered.set()
                if connection.fileno() != -1:
                    while connection.recv(65536):  # until the runtime closes: closing first would reset it
                        pass
                return
            else:
                if b"/test/mark/first-chunk-made" in lines[-1]:
                    answered.wait(10)
                connection.sendall(ACCEPTED)  # a mark

    return script, lines


def test_an_early_413_to_a_stream_is_the_apis_refusal_and_no_trailers_follow(
    raw_api: Callable[[Script], RawServer],
) -> None:
    def too_large(connection: socket.socket) -> None:
        connection.sendall(b"HTTP/1.1 413 Request Entity Too Large\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
        connection.shutdown(socket.SHUT_WR)

    script, lines = _stream_server(too_large)
    server = raw_api(script)
    process = start_runtime(server.address, "round3.two_chunks")
    try:
        # The phase ran (its hook's mark comes to this server as GET /test/mark/...), then the next /next.
        wait_until(lambda: sum(map(is_next, lines)) >= 2)
        output = process.output()
        assert "the Runtime API refused the invocation's result: 413" in output, output
        assert "Traceback" not in output and "answered 404" not in output, output
        # No second request carrying the end of the stream: after the stream's POST come the hook's mark and /next.
        after_stream = lines[next(i for i, line in enumerate(lines) if line.endswith(b"/response HTTP/1.1")) + 1 :]
        assert all(line.startswith(b"GET ") for line in after_stream), lines
        assert any(b"/test/mark/hook-r1-True-False-" in line for line in after_stream), lines
    finally:
        process.stop()


def test_a_reset_mid_stream_is_the_apis_failure_and_the_runtime_exits(raw_api: Callable[[Script], RawServer]) -> None:
    def reset(connection: socket.socket) -> None:
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        connection.close()

    script, lines = _stream_server(reset)
    server = raw_api(script)
    process = start_runtime(server.address, "round3.two_chunks")
    try:
        assert process.wait(10) == 2
        output = process.output()
        assert "the Runtime API failed, exiting so Lambda starts a fresh environment" in output, output
        assert "Traceback" not in output and "[ERROR] ValueError" not in output, output
        assert "round3.report" in output  # named as work that could not run
        assert sum(map(is_next, lines)) == 1 and not any(b"/error" in line for line in lines), lines
    finally:
        process.stop()


# 7. SIGTERM mid-stream: the stream is cut short, and says so -----------------------------------------------------


def test_sigterm_mid_stream_gives_the_hooks_a_failed_invocation_with_what_went_out(
    api: LambdaApiServer, start: StartRuntime
) -> None:
    process = start("round3.long_stream")
    request_id = api.submit(b"{}")
    api.wait_for(lambda: bool(api.marks("ten-chunks-sent")))
    os.kill(process.pid, signal.SIGTERM)
    assert process.wait(10) == 0
    [hook] = mark_names(api, f"hook-{request_id}-")
    assert hook == f"hook-{request_id}-False-False-10", hook


# 5. An item that runs past the phase's deadline is reported as overran --------------------------------------------


def test_work_that_runs_into_the_margin_is_reported_as_overran(api: LambdaApiServer, start: StartRuntime) -> None:
    process = start(
        "round3.past_the_phase_deadline", {"AWS_LAMBDA_LOG_LEVEL": "INFO", "RUNTIME_AFTER_RESPONSE_MARGIN_MS": "600"}
    )
    run(api, {}, timeout_s=2.0)
    output = process.wait_output(" timed out in ")
    assert "round3.past_the_phase_deadline.<locals>.slow overran" in output, output
    assert "slow ok" not in output


# 9. The watchdog names a running stream --------------------------------------------------------------------------


def test_the_watchdog_names_a_stream_that_runs_into_the_deadline(api: LambdaApiServer, start: StartRuntime) -> None:
    process = start("round3.stalled_stream")
    api.submit(b"{}", timeout_s=1.5)
    output = process.wait_output("watchdog: ")
    assert "watchdog: the response stream (the handler's generator) is still running" in output, output
