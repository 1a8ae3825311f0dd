"""`python -m emulator`: invoke and serve, and one clear line for each mistake."""

from __future__ import annotations

import json
import signal
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
        [sys.executable, "-m", "emulator", *args], cwd=ROOT, env=base_env(), capture_output=True, text=True, timeout=60
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
    server = Process([sys.executable, "-m", "emulator", "serve", "app.handler", "--task-root", str(EXAMPLE),
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


# The newcomer's path (reliability round 2) ------------------------------------------------------------------------


def test_a_traceback_is_printed_one_line_per_line() -> None:
    # Bytes, not text: text mode would turn the "\r" this test looks for into "\n" itself.
    done = subprocess.run(
        [sys.executable, "-m", "emulator", "invoke", "zoo.raise_value_error", "--task-root",
         str(ROOT / "tests" / "functions")],
        cwd=ROOT, env=base_env(), capture_output=True, timeout=60,
    )  # fmt: skip
    assert b"\r" not in done.stderr
    assert b"\nTraceback (most recent call last):\n" in done.stderr, done.stderr


def test_aws_credentials_and_home_reach_the_function() -> None:
    names = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "HOME"]
    env = base_env({"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "tok",
                    "AWS_PROFILE": "dev", "HOME": "/home/someone"})  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "emulator", "invoke", "attack.dispatch", "--task-root",
         str(ROOT / "tests" / "functions"), "--event", json.dumps({"call": "env_of", "names": names})],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    response = json.loads(done.stdout.splitlines()[0].removeprefix("response: "))
    assert response == {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret",
                        "AWS_SESSION_TOKEN": "tok", "AWS_PROFILE": "dev", "HOME": "/home/someone"}  # fmt: skip


def test_a_runtime_that_cannot_start_has_no_response_in_its_timeline() -> None:
    done = cli("invoke", "app.handler", "--task-root", str(EXAMPLE), "--env", "RUNTIME_PYTHON=/no/such/python")
    assert done.returncode == 1
    assert "Runtime.ExitError" in done.stdout
    assert "posted" not in done.stdout and "after-response phase starts" not in done.stdout, done.stdout
    assert "no response: exit_error" in done.stdout


def test_serve_stops_on_sigterm_and_the_function_gets_its_shutdown() -> None:
    port = free_port()
    server = Process([sys.executable, "-m", "emulator", "serve", "attack.dispatch", "--task-root",
                      str(ROOT / "tests" / "functions"), "--port", str(port)], base_env(), cwd=ROOT)  # fmt: skip
    try:
        server.wait_output("serving attack.dispatch on http://127.0.0.1:")
        url = f"http://127.0.0.1:{port}/2015-03-31/functions/function/invocations"
        reply = urllib3.PoolManager().request("POST", url, body=b'{"call": "ok"}', timeout=30.0)
        assert reply.json() == "ok"
        server.popen.send_signal(signal.SIGTERM)
        assert server.wait(10) == 0
        assert "attack: the shutdown hook ran" in server.output()
    finally:
        server.stop()
