"""Tasks mode (RUNTIME_WORKER_PROCESSES below AWS_LAMBDA_MAX_CONCURRENCY) through the real bootstrap, against the
project's emulator in its concurrent mode: several invocations in flight in one process, each with its own request
id in logs, its own `defer()` scope and its own phase, after its own response and before its slot's next `/next`.

Order and causality come from the emulator's clock and the function's marks; the same under RIE's LMI mode is in
tests/rie/test_workers_rie.py."""

from __future__ import annotations

import json
import re
import signal
from collections.abc import Iterator
from typing import Any

import pytest

from emulator.server import LambdaApiServer
from tests.support import Process, start_runtime
from tests.web import get

SLOTS = 4
TASKS = {"AWS_LAMBDA_MAX_CONCURRENCY": str(SLOTS), "RUNTIME_WORKER_PROCESSES": "1",
         "AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "INFO"}  # fmt: skip


@pytest.fixture
def api() -> Iterator[LambdaApiServer]:
    with LambdaApiServer(timeout_s=30, concurrency=SLOTS) as server:
        yield server


def serve(api: LambdaApiServer, handler: str = "tasks_app.handler", **env: str) -> Process:
    process = start_runtime(api.address, handler, {**TASKS, **env})
    api.wait_for(lambda: api.idle_workers() == SLOTS)  # every slot waits in /next
    return process


@pytest.fixture
def tasks(api: LambdaApiServer) -> Iterator[Process]:
    process = serve(api)
    yield process
    print(f"--- output ---\n{process.output()}")
    process.stop()


def submit(api: LambdaApiServer, event: dict[str, Any], **headers: str) -> str:
    return api.submit(json.dumps(event).encode(), headers)


def records(process: Process) -> list[dict[str, Any]]:
    return [json.loads(line) for line in process.output().splitlines() if line.startswith("{")]


def test_invocations_run_at_once_in_one_worker_process(api: LambdaApiServer, tasks: Process) -> None:
    request_ids = [submit(api, {"sleep_ms": 300}) for _ in range(SLOTS)]
    pids = {api.result(request_id).json()["pid"] for request_id in request_ids}
    timings = [api.timing(request_id) for request_id in request_ids]
    # Every invocation was handed out before any was answered: they ran at the same time, in one process (the
    # worker the parent forked).
    assert max(t.dispatched_at for t in timings) < min(t.responded_at for t in timings)
    assert len(pids) == 1 and tasks.pid not in pids


def test_each_phase_runs_after_its_own_response_and_before_its_slots_next(api: LambdaApiServer, tasks: Process) -> None:
    request_ids = [submit(api, {"sleep_ms": 50 * index, "defer_ms": 600}) for index in range(SLOTS)]
    for request_id in request_ids:
        api.wait_ended(request_id)
        timing = api.timing(request_id)
        [started] = api.marks(f"phase-start-{request_id}")
        [ended] = api.marks(f"phase-end-{request_id}")
        assert timing.responded_at < started.at < ended.at < timing.runtime_next_at
    # The phases overlapped: one invocation's phase does not hold the others' responses.
    starts = [api.marks(f"phase-start-{request_id}")[0].at for request_id in request_ids]
    ends = [api.marks(f"phase-end-{request_id}")[0].at for request_id in request_ids]
    assert max(starts) < min(ends)


def test_logs_and_deferred_work_belong_to_their_own_invocation(api: LambdaApiServer, tasks: Process) -> None:
    request_ids = [submit(api, {"sleep_ms": 500 - 100 * index, "defer_ms": 10}) for index in range(SLOTS)]
    for request_id in request_ids:
        api.wait_ended(request_id)
    lines = [r for r in records(tasks) if r.get("logger") == "tasks_app"]
    for request_id in request_ids:
        mine = [r["message"] for r in lines if r.get("requestId") == request_id]
        # Each record the handler (before and after its await) and its deferred work wrote carries its request id,
        # though the invocations interleaved: each started before the others' ended.
        assert mine == [
            f"before the await of {request_id}",
            f"after the await of {request_id}",
            f"deferred work of {request_id}",
        ], lines
    befores = [i for i, r in enumerate(lines) if r["message"].startswith("before")]
    afters = [i for i, r in enumerate(lines) if r["message"].startswith("after")]
    assert max(befores) < min(afters)  # interleaved, not one after the other


def test_each_invocation_has_its_own_trace_id_and_the_environment_none(api: LambdaApiServer, tasks: Process) -> None:
    traces = [f"Root=1-5759e988-bd862e3fe1be46a99427231{index};Sampled=1" for index in range(SLOTS)]
    request_ids = [submit(api, {"sleep_ms": 200}, **{"Lambda-Runtime-Trace-Id": trace}) for trace in traces]
    bodies = [api.result(request_id).json() for request_id in request_ids]
    assert [body["trace_id"] for body in bodies] == traces
    assert {body["env_trace_id"] for body in bodies} == {None}


def test_a_stream_goes_out_while_other_invocations_run(api: LambdaApiServer, tasks: Process) -> None:
    trace = "Root=1-5759e988-bd862e3fe1be46a994272318;Sampled=1"
    streamed = submit(api, {"stream": 4}, **{"Lambda-Runtime-Trace-Id": trace})
    other = submit(api, {"sleep_ms": 100})
    result = api.result(streamed)
    assert result.body.decode() == "".join(f"part {index} of {trace}\n" for index in range(4))
    assert len(result.chunks) >= 2  # parts, as they were made
    assert api.result(other).json()["pid"]


def test_defer_from_a_thread_without_the_invocations_context_is_refused(api: LambdaApiServer, tasks: Process) -> None:
    [says] = api.result(submit(api, {"defer_from_thread": True})).json()["thread_says"]
    assert "in tasks mode (RUNTIME_WORKER_PROCESSES) a thread works for an invocation only if" in says


def test_an_invocation_that_blocks_the_loop_is_named_with_its_stack(api: LambdaApiServer) -> None:
    process = serve(api, RUNTIME_LOOP_LAG_MS="200")
    try:
        blocker = submit(api, {"block_ms": 800})
        waiting = submit(api, {"sleep_ms": 10})
        api.result(blocker)
        api.result(waiting)
        # Named once for its stall (a loaded machine may stall the loop at other times too: those are not counted).
        [message] = [
            r["message"]
            for r in records(process)
            if f"tasks: invocation {blocker} has blocked" in str(r.get("message"))
        ]
        assert f"tasks: invocation {blocker} has blocked the event loop for" in message
        assert 'tasks_app.py", line' in message and 'time.sleep(event["block_ms"] / 1000)' in message
    finally:
        process.stop()


def test_sigterm_with_invocations_in_flight(api: LambdaApiServer) -> None:
    """One invocation in its handler, one in its phase, two slots in /next: the handler is cancelled and its hook
    runs with the shutdown as its error, the phase finishes, then the shutdown hooks; the process exits 0."""
    process = serve(api, RUNTIME_SHUTDOWN_BUDGET_MS="3000")
    try:
        waiting = submit(api, {"wait_for_sigterm": True})
        in_phase = submit(api, {"defer_ms": 600})
        api.wait_for(lambda: bool(api.marks(f"handler-waits-{waiting}")) and bool(api.marks(f"phase-start-{in_phase}")))
        assert api.result(in_phase).kind == "response"
        process.popen.send_signal(signal.SIGTERM)  # to the parent: it forwards it to its worker
        assert process.wait() == 0
        assert api.marks(f"phase-end-{in_phase}")  # the phase in flight ran to its end
        assert api.marks(f"error-hook-{waiting}-ShutdownRequested")  # the cut-short invocation's hook ran
        assert len(re.findall(r"shutdown hook ran in pid (\d+)", process.output())) == 1
    finally:
        process.stop()


@pytest.mark.parametrize(
    ("handler", "says"),
    [
        ("workers.handler", "handler must be an `async def` function or a runtime.web.ASGIHandler"),
        ("streams.writer", "the @streaming handler"),
    ],
    ids=["sync", "streaming"],
)
def test_a_handler_that_cannot_share_the_loop_is_an_init_error(api: LambdaApiServer, handler: str, says: str) -> None:
    process = start_runtime(api.address, handler, TASKS)
    try:
        assert process.wait() == 1
        error = api.init_error()
        assert error is not None
        document = json.loads(error.body)
        assert document["errorType"] == "Runtime.ConfigInvalid"
        assert "RUNTIME_WORKER_PROCESSES=1 with AWS_LAMBDA_MAX_CONCURRENCY=4" in document["errorMessage"]
        assert says in document["errorMessage"]
    finally:
        process.stop()


def test_processes_share_the_invocations(api: LambdaApiServer) -> None:
    """N=4 over P=2 processes: two slots each."""
    process = serve(api, RUNTIME_WORKER_PROCESSES="2")
    try:
        request_ids = [submit(api, {"sleep_ms": 300}) for _ in range(SLOTS)]
        pids = [api.result(request_id).json()["pid"] for request_id in request_ids]
        assert sorted(pids.count(pid) for pid in set(pids)) == [2, 2]
    finally:
        process.stop()


def test_a_fastapi_app_serves_requests_at_once_with_background_tasks_after_each_response(
    api: LambdaApiServer,
) -> None:
    process = serve(api, "web_asgi.handler")
    try:
        request_ids = [api.submit(json.dumps(get("/background", "ms=300")).encode()) for _ in range(SLOTS)]
        for request_id in request_ids:
            assert api.result(request_id).json()["statusCode"] == 200
            api.wait_ended(request_id)
        timings = [api.timing(request_id) for request_id in request_ids]
        starts = [mark.at for mark in api.marks("background-start")]
        ends = [mark.at for mark in api.marks("background-end")]
        assert len(starts) == len(ends) == SLOTS
        # Each background task ran in a phase, after a response; all at once in one process; each slot asked for
        # its next invocation only after them.
        assert min(t.responded_at for t in timings) < min(starts) and max(starts) < min(ends)
        assert max(ends) < max(t.runtime_next_at for t in timings)
        assert process.output().count("web_fastapi.sleep_then_mark ok") == SLOTS
    finally:
        process.stop()


def test_a_fastapi_stream_goes_out_part_by_part(api: LambdaApiServer) -> None:
    process = serve(api, "web_asgi.handler", RUNTIME_INVOKE_MODE="response_stream")
    try:
        request_id = api.submit(json.dumps(get("/stream")).encode())
        result = api.result(request_id)
        api.wait_ended(request_id)
        assert result.body.partition(b"\0" * 8)[2] == b"part 0\npart 1\npart 2\n"
        arrivals = [at for at, _ in result.chunks]  # the prelude, then each part
        [slept_1] = api.marks("stream-slept-1")
        assert arrivals[1] < slept_1.at < arrivals[2]
        [background] = api.marks("stream-background")
        timing = api.timing(request_id)
        assert timing.responded_at < background.at < timing.runtime_next_at, process.output()
    finally:
        process.stop()
