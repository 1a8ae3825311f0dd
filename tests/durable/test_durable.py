"""Durable functions with AWS's SDK and its local execution server (`dex-local-runner`), which invokes the function
again after each wait or callback as the service does: this runtime's bootstrap under the real RIE (and under the
project's emulator), side by side with awslambdaric where it makes sense.

The function (tests/functions/durable_app.py) writes a line per hook and deferred call with the request id and the
invocation's durable status; the execution's history comes from the server."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
import urllib3
from aws_durable_execution_sdk_python_testing.model import StartDurableExecutionInput

from tests.support import ROOT, Process, base_env, free_port, rie

pytestmark = pytest.mark.rie

#: What the function's SDK needs to reach the local execution server instead of Lambda (botocore's standard
#: per-service endpoint variable), and credentials botocore accepts.
SDK_ENV = {
    "AWS_REGION": "us-west-2",
    "AWS_DEFAULT_REGION": "us-west-2",
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
}


class Execution:
    """One durable execution run to its end: its status, result and history, and the lines the function wrote."""

    def __init__(self, description: dict[str, Any], history: list[dict[str, Any]], lines: list[list[str]]) -> None:
        self.status: str = description["Status"]
        self.result: Any = json.loads(description["Result"]) if description.get("Result") else None
        self.error: dict[str, Any] | None = description.get("Error")
        self.history = history
        self.lines = lines

    def invocations(self) -> list[str]:
        """The request ids of the invocations, in order (as the function's `always` hook logged them)."""
        return [line[2] for line in self.lines if line[:2] == ["hook", "always"]]

    def after(self, kind: str, label: str) -> list[list[str]]:
        return [line for line in self.lines if line[0] == kind and line[1] == label]


class DurableServer:
    """`dex-local-runner start-server` in front of a function served at `function_url` (RIE or the emulator)."""

    def __init__(self, port: int, function_port: int) -> None:
        self.port = port
        runner = Path(sys.executable).parent / "dex-local-runner"
        command = [str(runner), "start-server", "--host", "127.0.0.1", "--port", str(port),
                   "--lambda-endpoint", f"http://127.0.0.1:{function_port}", "--skip-time"]  # fmt: skip
        self.process = Process(command, base_env(SDK_ENV))
        self.client = boto3.client("lambda", endpoint_url=self.url, **_boto3_args())
        deadline = time.monotonic() + 30
        while not self._up():
            assert self.process.popen.poll() is None and time.monotonic() < deadline, self.process.output()
            time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _up(self) -> bool:
        try:
            urllib3.request("GET", f"{self.url}/", timeout=1, retries=False)
        except urllib3.exceptions.HTTPError:
            return False
        return True

    def start(self, payload: Any) -> str:
        start = StartDurableExecutionInput(
            account_id="123456789012",
            function_name="function",  # RIE serves one function, under this name
            function_qualifier="$LATEST",
            execution_name=f"test-{uuid.uuid4().hex[:8]}",
            execution_timeout_seconds=120,
            execution_retention_period_days=1,
            invocation_id=str(uuid.uuid4()),
            input=json.dumps(payload),
        )
        reply = urllib3.request("POST", f"{self.url}/start-durable-execution", json=start.to_dict(), timeout=30)
        assert reply.status == 201, reply.data
        arn: str = reply.json()["ExecutionArn"]
        return arn

    def wait(self, arn: str, timeout_s: float = 60) -> dict[str, Any]:
        """The execution's description once it is no longer RUNNING."""
        deadline = time.monotonic() + timeout_s
        while True:
            description = self.client.get_durable_execution(DurableExecutionArn=arn)
            if description["Status"] != "RUNNING" or time.monotonic() > deadline:
                return description  # type: ignore[no-any-return]
            time.sleep(0.1)

    def history(self, arn: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = self.client.get_durable_execution_history(DurableExecutionArn=arn)["Events"]
        return events

    def stop(self) -> None:
        self.process.stop()


def _boto3_args() -> dict[str, str]:
    return {"region_name": SDK_ENV["AWS_REGION"], "aws_access_key_id": "local", "aws_secret_access_key": "local"}


@contextmanager
def durable(handler: str, tmp_path: Path, serve: str = "rie", runtime: str = "bootstrap") -> Iterator[Any]:
    """The function `handler` served by RIE (or the emulator) on `runtime`, behind a local execution server; yields
    a function that runs one execution to its end."""
    log = tmp_path / f"durable-{uuid.uuid4().hex[:6]}.log"
    log.touch()
    server_port = free_port()
    env = {**SDK_ENV, "DURABLE_LOG": str(log), "AWS_ENDPOINT_URL_LAMBDA": f"http://127.0.0.1:{server_port}"}
    with _function(handler, runtime, env, serve) as (function_port, function):
        server = DurableServer(server_port, function_port)
        try:

            def run(payload: Any, until: Any = None) -> Execution:
                arn = server.start(payload)
                if until is not None:
                    until(server, arn)
                description = server.wait(arn)
                # The execution can end before its last invocation's phase has run (a large result is checkpointed
                # from the handler): here, every invocation's `always` hook has written its line first.
                deadline = time.monotonic() + 30
                while True:
                    history = server.history(arn)
                    lines = [line.split() for line in log.read_text().splitlines()]
                    invocations = sum(event.get("EventType") == "InvocationCompleted" for event in history)
                    hooks = sum(line[:2] == ["hook", "always"] for line in lines)
                    if runtime != "bootstrap" or hooks >= invocations or time.monotonic() > deadline:
                        return Execution(description, history, lines)
                    time.sleep(0.05)

            run.server = server  # type: ignore[attr-defined]
            run.function = function  # type: ignore[attr-defined]
            yield run
        finally:
            server.stop()


@contextmanager
def _function(handler: str, runtime: str, env: dict[str, str], serve: str) -> Iterator[tuple[int, Process]]:
    """The port of RIE or the emulator serving `handler`, and its process (for its output)."""
    if serve == "rie":
        with rie(handler, runtime, env) as emulator:
            yield emulator.port, emulator.process
        return
    port = free_port()
    # The emulator gives the function Lambda's environment, not its own: the function's variables go by --env.
    variables = [f"--env={name}={value}" for name, value in env.items()]
    command = [sys.executable, "-m", "emulator", "serve", handler, "--task-root", str(ROOT / "tests" / "functions"),
               "--port", str(port), *variables]  # fmt: skip
    process = Process(command, base_env(), cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while "serving" not in process.output():
            assert process.popen.poll() is None and time.monotonic() < deadline, process.output()
            time.sleep(0.05)
        yield port, process
    finally:
        process.stop()


# The tests ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("serve", ["rie", "emulator"])
def test_a_wait_suspends_the_execution_and_the_next_invocation_replays_it(tmp_path: Path, serve: str) -> None:
    with durable("durable_app.steps_and_wait", tmp_path, serve) as run:
        execution = run({"x": 41})
    assert (execution.status, execution.result) == ("SUCCEEDED", {"a": 42, "b": 84})
    first, second = execution.invocations()
    # Hooks: `always` after both invocations, the first PENDING (not replayed), the second SUCCEEDED (replayed).
    assert execution.after("hook", "always") == [
        ["hook", "always", first, "PENDING", "first"],
        ["hook", "always", second, "SUCCEEDED", "replayed"],
    ]
    # A suspended invocation is neither a success nor an error; `ended` runs once, with the caller's input.
    assert [line[2:4] for line in execution.after("hook", "success")] == [[second, "SUCCEEDED"]]
    assert execution.after("hook", "error") == []
    assert [line[2:4] for line in execution.after("hook", "ended:input=41")] == [[second, "SUCCEEDED"]]
    # defer(): each call runs once per execution, after the invocation that made it for the first time.
    assert [line[2] for line in execution.after("deferred", "body-start")] == [first]
    assert [line[2] for line in execution.after("deferred", "in-step")] == [first]
    assert [line[2] for line in execution.after("deferred", "after-wait")] == [second]


def test_a_step_that_keeps_failing_fails_the_execution_and_the_error_hook_runs_once(tmp_path: Path) -> None:
    with durable("durable_app.failing_step", tmp_path) as run:
        execution = run({"x": 1})
    assert execution.status == "FAILED"
    assert execution.error is not None and "attempt 2 failed" in execution.error["ErrorMessage"]
    *retries, last = execution.invocations()
    assert retries  # the retry waited: the first attempt's invocation ended PENDING
    assert [line[2:4] for line in execution.after("hook", "error")] == [[last, "FAILED"]]
    assert [line[2:4] for line in execution.after("hook", "ended:input=1")] == [[last, "FAILED"]]
    assert execution.after("hook", "success") == []


def test_a_callback_suspends_the_execution_until_it_is_sent(tmp_path: Path) -> None:
    def approve(server: DurableServer, arn: str) -> None:
        deadline = time.monotonic() + 30
        while True:
            started = [e for e in server.history(arn) if e.get("EventType") == "CallbackStarted"]
            if started or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        callback_id = started[0]["CallbackStartedDetails"]["CallbackId"]
        server.client.send_durable_execution_callback_success(CallbackId=callback_id, Result=b'{"by": "ada"}')

    with durable("durable_app.callback", tmp_path) as run:
        execution = run({"x": 2}, until=approve)
    assert execution.status == "SUCCEEDED"
    assert json.loads(execution.result["approval"]) == {"by": "ada"}
    assert [line[3] for line in execution.after("hook", "always")] == ["PENDING", "SUCCEEDED"]


def test_map_and_parallel_run_in_one_execution(tmp_path: Path) -> None:
    with durable("durable_app.fan_out", tmp_path) as run:
        execution = run({"x": 3, "items": [1, 2, 3]})
    assert (execution.status, execution.result) == ("SUCCEEDED", {"squares": [1, 4, 9], "branches": ["left", "right"]})


def test_a_result_over_6_mb_is_checkpointed_not_returned(tmp_path: Path) -> None:
    with durable("durable_app.large_result", tmp_path) as run:
        execution = run({"x": 4})
    assert execution.status == "SUCCEEDED"
    assert execution.result == "x" * (7 * 1024 * 1024)
    assert [line[3] for line in execution.after("hook", "always")] == ["SUCCEEDED"]


def test_a_durable_operation_after_the_handler_returned_fails_at_once(tmp_path: Path) -> None:
    started = time.monotonic()
    with durable("durable_app.operation_after_return", tmp_path) as run:
        execution = run({"x": 5})
    assert execution.status == "SUCCEEDED"
    assert execution.after("deferred", "late-step-failed:DurableOperationAfterReturn")
    assert time.monotonic() - started < 30  # it did not wait for the deadline


def test_the_same_function_under_awslambdaric_runs_the_same_execution(tmp_path: Path) -> None:
    with durable("durable_app.steps_and_wait", tmp_path, runtime="awslambdaric") as run:
        execution = run({"x": 41})
    assert (execution.status, execution.result) == ("SUCCEEDED", {"a": 42, "b": 84})
    # No hooks there; defer() runs its work at once, before the response, and, as here, not again when replayed.
    assert execution.after("hook", "always") == []
    assert [line[:2] for line in execution.lines] == [
        ["deferred", "body-start"],
        ["deferred", "in-step"],
        ["deferred", "after-wait"],
    ]


IN_PROCESS = """
import json, sys
from aws_durable_execution_sdk_python_testing import DurableFunctionTestRunner
import durable_app

with DurableFunctionTestRunner(handler=durable_app.steps_and_wait) as runner:
    result = runner.run(input=json.dumps({"x": 41}), execution_timeout=30)
print(json.dumps({"status": result.status.value, "result": json.loads(result.result)}))
"""


def test_the_sdks_in_process_runner_runs_the_function_and_deferred_work_runs_at_once(tmp_path: Path) -> None:
    # Unit tests of a durable function use the SDK's runner, which calls the handler itself: defer() runs its work
    # at once there, as under another runtime, and not again when the runner replays the body.
    log = tmp_path / "durable.log"
    env = base_env({"DURABLE_LOG": str(log)})
    done = subprocess.run(
        [sys.executable, "-c", IN_PROCESS], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {"status": "SUCCEEDED", "result": {"a": 42, "b": 84}}
    lines = [line.split()[:2] for line in log.read_text().splitlines()]
    assert lines == [["deferred", "body-start"], ["deferred", "in-step"], ["deferred", "after-wait"]]
    assert "this function is served by another runtime" in done.stderr
