"""Faults and bad input through the real bootstrap: each gives a clear log line and a defined outcome, never a hang."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from emulator.environment import Emulator
from emulator.server import LambdaApiServer, Recorded
from tests.conftest import StartRuntime
from tests.rawserver import NEXT_HEAD, RawServer, Script, next_replies, reset
from tests.support import FUNCTIONS, ROOT, start_runtime


@pytest.mark.parametrize(
    ("reply", "close", "message"),
    [
        (NEXT_HEAD + b"Content-Length: 100\r\n\r\n{\"par", reset, "the Runtime API failed"),
        (NEXT_HEAD + b"Content-Length: 10\r\n\r\n{}", None, "connection closed after 2 of 10 body bytes"),
        (b"HTTP/1.1 200 OK\r\nLambda-Runtime-Deadline-Ms: 1\r\nContent-Length: 2\r\n\r\n{}", None,
         "without a Lambda-Runtime-Aws-Request-Id"),
        (b"HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: r\r\nLambda-Runtime-Deadline-Ms: soon\r\n"
         b"Content-Length: 2\r\n\r\n{}", None, "Lambda-Runtime-Deadline-Ms that is not a number: 'soon'"),
        (b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 2\r\n\r\n{}", None, "/next answered 500"),
    ],
    ids=["reset-mid-reply", "truncated-body", "no-request-id", "bad-deadline", "500"],
)  # fmt: skip
def test_a_broken_next_reply_ends_the_runtime_promptly_with_a_clear_line(
    raw_api: Callable[[Script], RawServer], reply: bytes, close: Callable[[socket.socket], None] | None, message: str
) -> None:
    server = raw_api(next_replies(reply, close))
    process = start_runtime(server.address, "zoo.echo", {"RUNTIME_EXTENSION": "off"})
    try:
        assert process.wait(10) == 2
        lines = [line for line in process.output().splitlines() if "the Runtime API failed" in line]
        assert len(lines) == 1 and message in lines[0], process.output()
    finally:
        process.stop()


def test_a_500_on_the_response_exits_and_names_the_work_lost(api: LambdaApiServer, start: StartRuntime) -> None:
    api.interceptor = lambda r: (500, {}, b"{}") if r.path.endswith("/response") else None
    process = start("phase.handler", {"RUNTIME_EXTENSION": "off"})
    api.submit(b'{"defer": ["x"]}')
    assert process.wait(10) == 2
    output = process.output()
    assert "after-response work not run because the runtime must exit: ['tests.functions.marks.mark'" in output or (
        "after-response work not run because the runtime must exit: ['marks.mark', 'phase.first'" in output
    )
    assert "/response answered 500" in output


def test_a_failing_init_error_post_still_exits_1_with_the_error_logged(
    api: LambdaApiServer, start: StartRuntime
) -> None:
    api.interceptor = lambda r: (500, {}, b"{}") if r.path.endswith("/init/error") else None
    process = start("broken/raises_at_import.handler")
    assert process.wait(10) == 1
    output = process.output()
    assert "[ERROR] RuntimeError: failed during import" in output
    assert "could not report the init error to the Runtime API: /2018-06-01/runtime/init/error answered 500" in output


@pytest.mark.parametrize("status", [403, 500])
def test_a_refused_extension_registration_leaves_the_runtime_serving(
    api: LambdaApiServer, start: StartRuntime, status: int
) -> None:
    api.interceptor = lambda r: (status, {}, b'{"errorType": "Scripted"}') if r.path.endswith("/register") else None
    process = start("phase.handler")
    assert api.invoke(b"{}").json()["ok"] is True
    warnings = [line for line in process.output().splitlines() if "internal extension: registration failed" in line]
    assert len(warnings) == 1 and f"answered {status}" in warnings[0]


@pytest.mark.parametrize(
    ("handler", "event", "check"),
    [
        ("faults.keyboard_interrupt", b"{}", lambda r: r.json()["errorType"] == "KeyboardInterrupt"),
        ("faults.surrogate_message", b"{}", lambda r: r.json()["errorMessage"] == "bad \udcff bytes"),
        ("zoo.raise_huge_message", b"{}", lambda r: len(r.json()["errorMessage"]) == 300_000
         and 0 < len(r.headers["lambda-runtime-function-xray-error-cause"]) < 8192),
        ("faults.binary_garbage", b"{}", lambda r: r.json() == "ok"),
        ("zoo.echo", b"", lambda r: r.json()["errorType"] == "Runtime.UnmarshalError"),
        ("zoo.echo", b"[" * 100_000 + b"]" * 100_000, lambda r: r.json()["errorType"] == "Runtime.UnmarshalError"),
        ("zoo.raw_event", b"x" * 6_000_000, lambda r: r.json() == {"type": "bytes", "length": 6_000_000}),
    ],
    ids=["keyboard-interrupt", "non-utf8-message", "huge-message", "binary-stdout", "empty-event", "deep-json",
         "6MB-event"],
)  # fmt: skip
def test_bad_handlers_and_events_get_a_defined_answer_and_the_runtime_goes_on(
    api: LambdaApiServer, start: StartRuntime, handler: str, event: bytes, check: Callable[..., bool]
) -> None:
    start(handler)
    headers = {"Content-Type": "application/octet-stream"} if handler == "zoo.raw_event" else None
    for _ in range(2):
        assert check(api.invoke(event, headers=headers))


def test_threads_left_running_do_not_disturb_the_next_invocation(api: LambdaApiServer, start: StartRuntime) -> None:
    start("faults.leave_a_thread")
    first, second = api.invoke().json(), api.invoke().json()
    assert second == first + 1  # one more sleeper per invocation, and the runtime goes on


def test_sigterm_in_the_handler_runs_what_was_deferred_and_the_shutdown_hooks(
    api: LambdaApiServer, start: StartRuntime
) -> None:
    process = start("faults.sleep_in_handler")
    api.submit(b"{}")
    # Marked once the main thread is inside the handler's time.sleep(30): before, SIGTERM could land in the handler's
    # last bytecodes, where the runtime may miss it (the test below).
    api.wait_for(lambda: bool(api.marks("handler-sleeping")))
    process.popen.send_signal(signal.SIGTERM)
    assert process.wait(5) == 0
    assert api.marks("deferred-before-sigterm")[0].at < api.marks("shutdown-hook")[0].at
    assert not api.find("/response")


def test_sigterm_that_reaches_another_thread_while_the_handler_blocks_still_shuts_down(
    api: LambdaApiServer, start: StartRuntime
) -> None:
    process = start("faults.sigterm_to_a_thread_while_the_handler_sleeps")
    api.submit(b"{}")  # the function's own thread gets SIGTERM once the main thread sleeps in the handler
    assert process.wait(5) == 0
    assert api.marks("deferred-before-sigterm")[0].at < api.marks("shutdown-hook")[0].at
    assert not api.find("/response")


def test_a_hook_blocked_on_io_is_named_then_the_environment_is_reset() -> None:
    lines: list[str] = []
    with Emulator("faults.block_in_hook", FUNCTIONS, timeout_s=1.0, log=lines.append) as emulator:
        result, _ = emulator.invoke(json.dumps({"block": True}).encode())
        assert result.json() == "ok"  # the caller had its response before the hook blocked
        result, timeline = emulator.invoke(b"{}")
        assert result.json() == "ok" and timeline.cold_start
    output = "".join(lines)
    assert "watchdog: faults.blocking_io is still running" in output
    assert "shutdown: faults.closing ok" in output  # SIGTERM at the reset interrupted the blocked hook


def test_sigterm_while_the_response_is_posted_still_runs_the_deferred_work(
    api: LambdaApiServer, start: StartRuntime
) -> None:
    pids: list[int] = []

    def sigterm_during_response(request: Recorded) -> tuple[int, dict[str, str], bytes] | None:
        if request.path.endswith("/response"):
            os.kill(pids[0], signal.SIGTERM)  # the runtime is waiting for this reply
            # The reply is held until the deferred work has run, in the shutdown SIGTERM started (bounded: a runtime
            # that waits for the reply gets it after 10 s and fails the assertion below).
            with contextlib.suppress(TimeoutError):
                api.wait_for(lambda: bool(api.marks("deferred-a")))
        return None

    api.interceptor = sigterm_during_response
    process = start("phase.handler")
    pids.append(process.pid)
    api.submit(b'{"defer": ["a"]}')
    assert process.wait(10) == 0
    assert api.marks("deferred-a") and api.marks("shutdown-hook")
    assert api.marks("deferred-a")[0].at < api.marks("shutdown-hook")[0].at
    [response] = api.find("/response")
    assert api.marks("deferred-a")[0].at < response.replied_at  # SIGTERM did not wait for the reply


def test_sigterm_received_by_another_thread_still_wakes_the_runtime(api: LambdaApiServer, start: StartRuntime) -> None:
    process = start("faults.sigterm_to_another_thread")
    assert api.invoke().json() == "ok"
    assert process.wait(5) == 0  # not stuck in /next until Lambda's SIGKILL
    assert api.marks("shutdown-hook")


def test_the_runtime_connects_even_when_the_idna_codec_lookup_has_failed(api: LambdaApiServer, tmp_path: Path) -> None:
    """A race between a thread's first codec lookup and an import elsewhere can leave `encodings` caching "no idna
    codec" for the life of the process; connecting must not depend on it (seen once in CI)."""
    (tmp_path / "sitecustomize.py").write_text('import encodings\nencodings._cache["idna"] = None\n')
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), str(FUNCTIONS), str(ROOT)])}
    process = start_runtime(api.address, "zoo.echo", env)
    try:
        assert api.invoke(b'{"a": 1}').json() == {"a": 1}
        assert "registration failed" not in process.output()
    finally:
        process.stop()
