"""Multi-concurrency (Lambda Managed Instances) through the real bootstrap, against the project's emulator in its
concurrent mode (one invocation per worker connection waiting in /next; none free: Runtime.Unavailable).

Order and causality come from the emulator's clock; the same behaviour under RIE's own LMI mode is
tests/rie/test_workers_rie.py."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from emulator.server import LambdaApiServer, Recorded
from tests.support import Process, start_runtime

WORKERS = 3


@pytest.fixture
def api() -> Iterator[LambdaApiServer]:
    with LambdaApiServer(timeout_s=30, concurrency=WORKERS) as server:
        yield server


@pytest.fixture
def pool(api: LambdaApiServer) -> Iterator[Process]:
    process = start_runtime(api.address, "workers.handler", {"AWS_LAMBDA_MAX_CONCURRENCY": str(WORKERS)})
    yield process
    print(f"--- output ---\n{process.output()}")
    process.stop()


def submit(api: LambdaApiServer, event: dict[str, Any]) -> str:
    return api.submit(json.dumps(event).encode())


def test_invocations_run_at_once_in_different_workers(api: LambdaApiServer, pool: Process) -> None:
    request_ids = [submit(api, {"sleep_ms": 300}) for _ in range(WORKERS)]
    pids = {api.result(request_id).json()["pid"] for request_id in request_ids}
    timings = [api.timing(request_id) for request_id in request_ids]
    # Every invocation was handed out before any finished: they ran at the same time, each in its own worker.
    assert max(t.dispatched_at for t in timings) < min(t.responded_at for t in timings)
    assert len(pids) == WORKERS and pool.pid not in pids


def test_each_worker_answers_at_response_then_runs_its_phase(api: LambdaApiServer, pool: Process) -> None:
    request_ids = [submit(api, {"defer_ms": 300}) for _ in range(WORKERS)]
    for request_id in request_ids:
        api.result(request_id)
        api.wait_ended(request_id)
        timing = api.timing(request_id)
        [started] = api.marks(f"phase-start-{request_id}")
        [ended] = api.marks(f"phase-end-{request_id}")
        assert timing.responded_at < started.at < ended.at < timing.runtime_next_at


def test_a_request_finding_every_worker_in_its_phase_is_refused(api: LambdaApiServer, pool: Process) -> None:
    busy = [submit(api, {"defer_ms": 1500}) for _ in range(WORKERS)]
    for request_id in busy:
        api.result(request_id)  # answered; each worker is now in its 1.5 s phase
    extra = api.result(submit(api, {}))
    assert extra.kind == "unavailable" and extra.json()["errorType"] == "Runtime.Unavailable"
    for request_id in busy:
        api.wait_ended(request_id)
    assert api.result(submit(api, {})).kind == "response"  # free again


def test_a_killed_worker_is_replaced(api: LambdaApiServer, pool: Process) -> None:
    victim = api.result(submit(api, {})).json()["pid"]
    os.kill(victim, signal.SIGKILL)
    pool.wait_output(f"(pid {victim}) was killed by signal 9: starting a replacement")
    api.wait_for(lambda: api.idle_workers() == WORKERS)  # the replacement did its init and waits for work
    pids = {api.result(request_id).json()["pid"] for request_id in [submit(api, {"sleep_ms": 200}) for _ in range(3)]}
    assert victim not in pids and len(pids) == WORKERS  # full capacity again, with a new worker


def test_sigterm_runs_every_workers_shutdown_hooks(api: LambdaApiServer, pool: Process) -> None:
    api.result(submit(api, {}))
    api.wait_for(lambda: api.idle_workers() == WORKERS)  # every worker done with its init
    pool.popen.send_signal(signal.SIGTERM)  # to the parent alone: it forwards it to each worker
    assert pool.wait() == 0
    # Workers write to one output at the same time: their lines may interleave.
    assert len(set(re.findall(r"shutdown hook ran in pid (\d+)", pool.output()))) == WORKERS


def test_an_init_error_is_reported_once_and_no_worker_is_replaced(api: LambdaApiServer) -> None:
    env = {"AWS_LAMBDA_MAX_CONCURRENCY": str(WORKERS), "WORKERS_FAIL_INIT": "1"}
    process = start_runtime(api.address, "workers.handler", env)
    try:
        assert process.wait() == 1
        error = api.init_error()
        assert error is not None and json.loads(error.body)["errorMessage"] == "this worker cannot start"
        output = process.output()
        # The other workers' init errors got 403 (one per environment): ignored, no traceback, no replacement.
        assert output.count("failed its init") == WORKERS and "Traceback" not in output.replace(
            "Traceback (most recent call last)", ""
        )
        assert "starting a replacement" not in output
    finally:
        process.stop()


def test_the_pool_is_announced_at_debug_in_json(api: LambdaApiServer) -> None:
    env = {"AWS_LAMBDA_MAX_CONCURRENCY": "2", "AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "DEBUG"}
    process = start_runtime(api.address, "workers.handler", env)
    try:
        api.result(submit(api, {}))
        records = [json.loads(line) for line in process.output().splitlines() if line.startswith("{")]
        [pool_event] = [r for r in records if isinstance(r.get("message"), dict)]
        assert pool_event["level"] == "DEBUG"
        assert pool_event["message"] == {
            "event": "runtime_worker_pool_initializing",
            "workerCount": 2,
            "executionEnvironmentMaxConcurrency": 2,
        }
    finally:
        process.stop()


def test_a_failing_next_is_tried_again(api: LambdaApiServer) -> None:
    failures = {"left": 2}

    def fail_twice(request: Recorded) -> tuple[int, dict[str, str], bytes] | None:
        if request.path.endswith("/invocation/next") and failures["left"] > 0:
            failures["left"] -= 1
            return 500, {}, b'{"errorType": "Busy"}'
        return None

    api.interceptor = fail_twice
    process = start_runtime(api.address, "workers.handler", {"AWS_LAMBDA_MAX_CONCURRENCY": "1"})
    try:
        assert api.result(submit(api, {})).kind == "response"
        output = process.output()
        assert "/next failed (attempt 1 of 5)" in output and "/next failed (attempt 2 of 5)" in output
    finally:
        process.stop()


def test_each_worker_writes_its_output_to_its_own_connections_to_the_log_socket(
    api: LambdaApiServer, tmp_path: Path
) -> None:
    """With `_LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET`, each worker connects its stdout and its stderr to that Unix
    socket (awslambdaric's `run_single`): two connections per worker, the worker's lines on them."""
    path = tmp_path / "logs.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(16)
    listener.settimeout(10)
    received: list[bytes] = []
    env = {"AWS_LAMBDA_MAX_CONCURRENCY": "2", "_LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET": str(path)}
    process = start_runtime(api.address, "workers.handler", env)
    try:
        connections = [listener.accept()[0] for _ in range(4)]
        request_id = submit(api, {"defer_ms": 1})  # the phase's summary line goes to the worker's stdout
        api.wait_ended(request_id)
        deadline = time.monotonic() + 10
        while not any(b"after-response:" in chunk for chunk in received) and time.monotonic() < deadline:
            for connection in connections:  # bounded by the deadline
                connection.settimeout(0.05)
                try:
                    received.append(connection.recv(65536))
                except TimeoutError:
                    pass
        assert any(b"after-response: 1 ran" in chunk for chunk in received), received
        assert "after-response:" not in process.output()  # not on the parent's own output
        for connection in connections:
            connection.close()
    finally:
        process.stop()
        listener.close()


def test_workers_end_with_their_parent(api: LambdaApiServer, pool: Process) -> None:
    """A parent that dies (SIGKILL) takes its workers with it: each gets SIGTERM and runs its shutdown; none is left
    taking invocations nobody supervises."""
    pids = {api.result(request_id).json()["pid"] for request_id in [submit(api, {"sleep_ms": 300}) for _ in range(3)]}
    pool.popen.kill()
    pool.popen.wait(10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # bounded: until every worker is gone
        alive = [pid for pid in pids if os.path.exists(f"/proc/{pid}") and "zombie" not in _state(pid)]
        if not alive:
            break
        time.sleep(0.05)
    assert not alive
    assert len(set(re.findall(r"shutdown hook ran in pid (\d+)", pool.output()))) == WORKERS


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/status") as status:
            return next((line for line in status if line.startswith("State:")), "").lower()
    except OSError:
        return "zombie"


def test_when_the_runtime_api_goes_away_the_environment_exits_instead_of_restarting_workers() -> None:
    server = LambdaApiServer(timeout_s=30, concurrency=2).start()
    process = start_runtime(server.address, "workers.handler", {"AWS_LAMBDA_MAX_CONCURRENCY": "2"})
    try:
        assert server.invoke(b"{}").kind == "response"
        server.stop()  # the Runtime API is gone: every worker's /next fails, 5 times, then the worker exits 2
        assert process.wait(30) == 2
        output = process.output()
        assert "lost the Runtime API: the environment exits" in output
        assert "starting a replacement" not in output
    finally:
        process.stop()


def test_a_handlers_sys_exit_2_replaces_only_its_worker(api: LambdaApiServer, tmp_path: Path) -> None:
    """argparse and click exit 2 on a usage error: that exit, like any other of the function's, replaces its worker
    (the runtime says the Runtime API is lost on the worker's pipe, not by the status). The other worker's invocation
    in flight is not cut, and the environment goes on serving with both workers."""
    process = start_runtime(api.address, "worker_exit.handler", {"AWS_LAMBDA_MAX_CONCURRENCY": "2"})
    try:
        api.wait_for(lambda: api.idle_workers() == 2)  # both workers done with their init
        release = tmp_path / "release"
        held = submit(api, {"hold": str(release)})
        api.wait_for(lambda: bool(api.marks(f"holding-{held}")))
        exited = api.result(submit(api, {"exit": 2}))
        assert exited.kind == "error" and exited.json()["errorType"] == "SystemExit"
        process.wait_output("exited with status 2: starting a replacement")
        release.touch()
        assert api.result(held).json()["held"] is True  # the other worker's invocation went on
        api.wait_for(lambda: api.idle_workers() == 2)  # the replacement did its init and waits for work
        release.unlink()
        both = [submit(api, {"hold": str(release)}) for _ in range(2)]
        api.wait_for(lambda: all(api.marks(f"holding-{request_id}") for request_id in both))  # in two workers at once
        release.touch()
        assert all(api.result(request_id).kind == "response" for request_id in both)
        assert process.popen.poll() is None
        assert "lost the Runtime API" not in process.output()
    finally:
        process.stop()
