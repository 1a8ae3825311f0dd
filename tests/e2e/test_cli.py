"""`python -m emulator`: invoke and serve, and one clear line for each mistake."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
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
    assert "response posted: the caller has it" in text
    # send_event sleeps 0.3 s: at least that, maybe more on a busy machine; the timeline is shown when it is missing.
    took = re.search(r"app\.send_event \(ok, ([\d.]+) ms\)", text)
    assert took and 300 <= float(took[1]) < 2000, text
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


def test_invoke_prints_each_streamed_chunk_as_it_arrives_then_the_timeline() -> None:
    done = cli("invoke", "streams.slow", "--task-root", str(ROOT / "tests" / "functions"))
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    chunks = [line for line in lines if line.startswith("chunk at")]
    assert [line.rsplit(": ", 1)[1] for line in chunks] == ["'chunk 0\\n'", "'chunk 1\\n'", "'chunk 2\\n'"]
    times = [float(line.split()[2]) for line in chunks]
    assert times[1] - times[0] >= 250 and times[2] - times[1] >= 250  # the handler's 300 ms sleeps, streamed
    assert lines.index(chunks[-1]) < lines.index("stream ended (24 bytes)")
    assert "first byte streamed" in done.stdout and "last byte streamed" in done.stdout


def _stream_from_serve(port: int, keep_reading: bool) -> tuple[bytes, list[tuple[float, bytes]]]:
    """POST to `serve` over a raw socket; (head, [(arrival time, chunk bytes)]) as the client reads them."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as client:
        client.sendall(b"POST /2015-03-31/functions/function/invocations HTTP/1.1\r\nHost: x\r\n"
                       b"Content-Length: 2\r\n\r\n{}")  # fmt: skip
        data = b""
        while b"\r\n\r\n" not in data:
            data += client.recv(65536)
        head, _, rest = data.partition(b"\r\n\r\n")
        arrivals = [(time.monotonic(), rest)] if rest else []
        while keep_reading:
            piece = client.recv(65536)
            if not piece:
                break
            arrivals.append((time.monotonic(), piece))
            if b"0\r\n\r\n" in piece:
                break
        return head, arrivals


def test_serve_streams_to_its_client_and_a_client_that_leaves_does_not_stop_the_function() -> None:
    port = free_port()
    server = Process([sys.executable, "-m", "emulator", "serve", "streams.slow", "--task-root",
                      str(ROOT / "tests" / "functions"), "--port", str(port)], base_env(), cwd=ROOT)  # fmt: skip
    try:
        server.wait_output(f"on http://127.0.0.1:{port}")
        head, arrivals = _stream_from_serve(port, keep_reading=True)
        assert b"Transfer-Encoding: chunked" in head and b"Lambda-Runtime-Function-Response-Mode: streaming" in head
        body = b"".join(piece for _, piece in arrivals)
        assert b"chunk 0" in body and b"chunk 2" in body
        # The client had the first chunk long before the last: the stream was not buffered.
        first = next(at for at, piece in arrivals if b"chunk 0" in piece)
        last = next(at for at, piece in arrivals if b"chunk 2" in piece)
        assert last - first >= 0.5
        # A client that leaves after the first chunk: the function runs to its end and its phase runs, as on Lambda.
        server_output_before = server.output().count("streams.report ok")
        _stream_from_serve(port, keep_reading=False)
        deadline = time.monotonic() + 10
        while server.output().count("streams.report ok") == server_output_before and time.monotonic() < deadline:
            time.sleep(0.05)  # bounded by the deadline
        assert server.output().count("streams.report ok") == server_output_before + 1, server.output()
    finally:
        server.stop()


# The adoption path (issue 23): another runtime, the function name, --watch -----------------------------------------


def test_runtime_runs_another_runtime_command_for_a_side_by_side_comparison(tmp_path: Path) -> None:
    (tmp_path / "which.py").write_text(
        "import sys\n"
        "def handler(event, context):\n"
        "    return {'awslambdaric': 'awslambdaric' in sys.modules, 'name': context.function_name,\n"
        "            'arn': context.invoked_function_arn}\n"
    )
    for runtime, on_awslambdaric in ((f"{sys.executable} -m awslambdaric", True), (None, False)):
        extra = ["--runtime", runtime] if runtime else []
        done = cli("invoke", "which.handler", "--task-root", str(tmp_path), "--function-name", "side-by-side", *extra)
        assert done.returncode == 0, done.stdout + done.stderr
        response = json.loads(done.stdout.splitlines()[0].removeprefix("response: "))
        assert response["awslambdaric"] is on_awslambdaric
        assert response["name"] == "side-by-side" and response["arn"].endswith(":function:side-by-side")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--runtime", ""], "error: --runtime is empty"),
        (["--runtime", "no-such-runtime -x"],
         "error: --runtime 'no-such-runtime -x': 'no-such-runtime' is not a program found on PATH or an executable"),
        (["--runtime", "python 'unclosed"], "error: --runtime \"python 'unclosed\": No closing quotation"),
        (["--function-name", "my function"],
         "error: --function-name 'my function' is not 1 to 64 letters, digits, - or _"),
    ],
)  # fmt: skip
def test_a_wrong_runtime_or_function_name_gives_one_clear_line(args: list[str], message: str) -> None:
    done = cli("invoke", "app.handler", "--task-root", str(EXAMPLE), *args)
    assert done.returncode == 2
    assert done.stderr.strip() == message


def test_serve_watch_restarts_the_function_when_its_code_changes(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text("def handler(event, context):\n    return 'one'\n")
    port = free_port()
    server = Process([sys.executable, "-m", "emulator", "serve", "app.handler", "--task-root", str(tmp_path),
                      "--port", str(port), "--watch"], base_env(task_root=tmp_path), cwd=ROOT)  # fmt: skip
    try:
        server.wait_output("serving app.handler on http://127.0.0.1:")
        http = urllib3.PoolManager()
        url = f"http://127.0.0.1:{port}/2015-03-31/functions/function/invocations"

        def invoke() -> tuple[object, str]:
            """The response, and the summary line `serve` printed for it."""
            count = server.output().count("caller waited")
            reply = http.request("POST", url, body=b"{}", timeout=30.0)
            assert reply.status == 200
            deadline = time.monotonic() + 10
            while server.output().count("caller waited") == count:
                assert time.monotonic() < deadline, server.output()
                time.sleep(0.01)
            return reply.json(), [line for line in server.output().splitlines() if "caller waited" in line][-1]

        first, summary = invoke()
        assert first == "one" and "(cold start)" in summary
        again, summary = invoke()
        assert again == "one" and "(cold start)" not in summary  # nothing changed: the warm environment
        app.write_text("def handler(event, context):\n    return 'two, changed'\n")
        (tmp_path / "helpers").mkdir()
        changed, summary = invoke()
        assert changed == "two, changed" and "(cold start)" in summary
        assert server.output().count("emulator: app.py changed; restarting the function (a cold start)") == 1
        # A new module in a folder counts too; the next invocation after it is warm again.
        (tmp_path / "helpers" / "util.py").write_text("X = 1\n")
        assert "(cold start)" in invoke()[1]
        assert "emulator: helpers/util.py changed; restarting the function" in server.output()
        assert "(cold start)" not in invoke()[1]
        assert server.output().count("restarting the function") == 2
    finally:
        server.stop()
