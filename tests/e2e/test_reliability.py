"""Reliability round 2: each fault an outside attack or a newcomer's trial found, through the real bootstrap."""

from __future__ import annotations

import json
import os
import signal
import time

from runtime.local.server import LambdaApiServer
from tests.conftest import StartRuntime


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
    time.sleep(0.5)
    process.popen.kill()
    process.wait(10)
    assert "shutdown: running attack.slow_shutdown" in process.output()
