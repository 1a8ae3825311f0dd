"""Durable functions: what the after-response phase changes for a durable execution, measured end to end with AWS's
durable SDK and its local execution server (`dex-local-runner`), which invokes the function again after each wait,
as the service does, through the project's emulator: it answers the invoke when the runtime posts `/response`, as
Lambda does (RIE answers only once the runtime asks for the next invocation, so the phase would look like latency).
`python -m bench.durable` prints the table (not part of `make bench`: each execution waits a real second).

Each execution is a step, a 1 s wait and a step: two invocations. With a 200 ms telemetry flush per invocation, in
the handler (awslambdaric) or in an `@after_response` hook (this runtime), and without one, for reference."""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS = ROOT / "bench" / "functions"
SDK_ENV = {
    "AWS_REGION": "us-west-2",
    "AWS_DEFAULT_REGION": "us-west-2",
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
}
EXECUTIONS = 5


def main() -> None:
    cases = [
        ("ours", "bench_durable_phase.handler", "off"),
        ("ric", "bench_durable_inline.handler", "off"),
        ("ours", "bench_durable_phase.handler", "on"),
        ("ric", "bench_durable_inline.handler", "on"),
    ]
    rows = []
    for runtime, handler, flush in cases:
        durations = measure(runtime, handler, flush)
        rows.append((runtime, flush, statistics.median(durations), min(durations), max(durations)))
        print(f"{runtime:5} flush {flush:3}: execution {statistics.median(durations) * 1000:7.1f} ms", flush=True)
    print()
    print("| runtime | 200 ms flush per invocation | execution, start → SUCCEEDED (median; min-max) |")
    print("|---|---|--:|")
    for runtime, flush, median, low, high in rows:
        where = {"off": "none", "on": "in the handler" if runtime == "ric" else "in `@after_response`"}[flush]
        print(f"| {runtime} | {where} | {median * 1000:.0f} ms ({low * 1000:.0f}-{high * 1000:.0f}) |")


def measure(runtime: str, handler: str, flush: str) -> list[float]:
    """The wall-clock duration of EXECUTIONS executions, each from its start request to SUCCEEDED."""
    import boto3  # type: ignore[import-untyped]
    import urllib3
    from aws_durable_execution_sdk_python_testing.model import StartDurableExecutionInput

    function_port, server_port = _free_port(), _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RUNTIME_", "_LAMBDA"))},
        **SDK_ENV,
        "PYTHONPATH": str(ROOT),
    }
    # The function's environment is the emulator's Lambda environment plus these (--env).
    variables = {**SDK_ENV, "BENCH_FLUSH": flush, "AWS_ENDPOINT_URL_LAMBDA": f"http://127.0.0.1:{server_port}"}
    runtime_command = [] if runtime == "ours" else ["--runtime", f"{sys.executable} -m awslambdaric"]
    function = subprocess.Popen(
        [
            *(sys.executable, "-m", "emulator", "serve", handler, "--task-root", str(FUNCTIONS)),
            *("--port", str(function_port), "--timeout", "30", *runtime_command),
            *(f"--env={name}={value}" for name, value in variables.items()),
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    runner = Path(sys.executable).parent / "dex-local-runner"
    server = subprocess.Popen(
        [
            *(str(runner), "start-server", "--host", "127.0.0.1", "--port", str(server_port)),
            *("--lambda-endpoint", f"http://127.0.0.1:{function_port}"),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_listening(server_port)
        _wait_listening(function_port)
        client = boto3.client("lambda", endpoint_url=f"http://127.0.0.1:{server_port}", region_name="us-west-2",
                              aws_access_key_id="local", aws_secret_access_key="local")  # fmt: skip
        durations = []
        for n in range(EXECUTIONS + 1):  # the first one pays the cold start: left out
            start = StartDurableExecutionInput(
                account_id="123456789012", function_name="function", function_qualifier="$LATEST",
                execution_name=f"bench-{uuid.uuid4().hex[:8]}", execution_timeout_seconds=60,
                execution_retention_period_days=1, invocation_id=str(uuid.uuid4()), input=json.dumps({"n": n}),
            )  # fmt: skip
            began = time.monotonic()
            reply = urllib3.request("POST", f"http://127.0.0.1:{server_port}/start-durable-execution",
                                    json=start.to_dict(), timeout=30)  # fmt: skip
            arn = reply.json()["ExecutionArn"]
            status = _wait_end(client, arn)
            elapsed = time.monotonic() - began
            if status != "SUCCEEDED":
                raise RuntimeError(f"{runtime} {handler}: the execution ended {status}")
            if n:
                durations.append(elapsed)
            time.sleep(0.5)  # the last invocation's phase ends before the next execution starts
        return durations
    finally:
        for process in (server, function):
            process.terminate()
            process.wait(timeout=10)


def _wait_end(client: Any, arn: str) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status: str = client.get_durable_execution(DurableExecutionArn=arn)["Status"]
        if status != "RUNNING":
            return status
        time.sleep(0.01)
    return "RUNNING"


def _wait_listening(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


if __name__ == "__main__":
    main()
