"""`python -m runtime`: invoke and serve, and one clear line for each mistake."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import urllib3

from tests.support import ROOT, Process, base_env, free_port

EXAMPLE = ROOT / "examples" / "hello"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runtime", *args], cwd=ROOT, env=base_env(), capture_output=True, text=True, timeout=60
    )


def test_invoke_prints_the_response_then_the_timeline(tmp_path: Path) -> None:
    svg = tmp_path / "timeline.svg"
    done = cli("invoke", "app.handler", "--task-root", str(EXAMPLE), "--event", '{"name": "Ada"}',
               "--timeline-svg", str(svg))  # fmt: skip
    assert done.returncode == 0, done.stderr
    response_line, *timeline = done.stdout.splitlines()
    assert response_line.startswith("response: ")
    assert json.loads(response_line.removeprefix("response: "))["message"] == "Hello, Ada!"
    text = "\n".join(timeline)
    assert "response posted: the caller has it" in text and "app.send_event (ok, 30" in text
    assert svg.read_text().startswith("<svg") and "app.send_event" in svg.read_text()
    assert "sent event Ada" not in done.stdout  # the function's logs go to stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["invoke", "nodot"], "error: handler 'nodot' is not module.function"),
        (["invoke", "app.handler", "--task-root", "no/such"], "error: task root 'no/such' is not a folder"),
        (["invoke", "app.handler", "--task-root", str(EXAMPLE), "--event", "{bad"], "error: the event is not JSON: "),
        (["invoke", "app.handler", "--task-root", str(EXAMPLE), "--event-file", "missing.json"],
         "error: cannot read the event file: No such file or directory: missing.json"),
        (["invoke", "app.handler", "--env", "NOEQUALS"], "error: --env 'NOEQUALS' is not NAME=VALUE"),
    ],
)  # fmt: skip
def test_mistakes_give_one_clear_line_and_a_nonzero_exit(args: list[str], message: str) -> None:
    done = cli(*args)
    assert done.returncode == 2
    assert done.stderr.startswith(message)
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr


def test_a_failing_function_exits_1_with_its_error() -> None:
    done = cli("invoke", "zoo.raise_value_error", "--task-root", str(ROOT / "tests" / "functions"))
    assert done.returncode == 1
    assert '"errorType": "ValueError"' in done.stdout


def test_serve_answers_the_rie_invoke_endpoint_and_prints_a_timeline_line() -> None:
    port = free_port()
    env = base_env()
    server = Process([sys.executable, "-m", "runtime", "serve", "app.handler", "--task-root", str(EXAMPLE),
                      "--port", str(port)], env, cwd=ROOT)  # fmt: skip
    try:
        server.wait_output("serving app.handler on http://127.0.0.1:")
        http = urllib3.PoolManager()
        url = f"http://127.0.0.1:{port}/2015-03-31/functions/function/invocations"
        for name in ("Ada", "Grace"):
            reply = http.request("POST", url, body=json.dumps({"name": name}).encode(), timeout=30.0)
            assert reply.status == 200
            assert reply.json()["message"] == f"Hello, {name}!"
        output = server.wait_output("caller waited", timeout=10)
        assert "(cold start): caller waited" in output and "[app.send_event 30" in output
        assert http.request("POST", url.replace("invocations", "nope"), body=b"{}").status == 404
    finally:
        server.stop()


def test_serve_on_a_port_in_use_says_so() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = cli("serve", "app.handler", "--task-root", str(EXAMPLE), "--port", str(port))
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: cannot listen on 127.0.0.1:{port}: Address already in use"
