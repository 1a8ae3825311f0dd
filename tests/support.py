"""Run the real `bootstrap` (or `python -m awslambdaric`) as a process, against a Runtime API on loopback."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emulator.server import LambdaApiServer

ROOT = Path(__file__).resolve().parent.parent
BOOTSTRAP = ROOT / "bootstrap"
FUNCTIONS = ROOT / "tests" / "functions"
# Relative to the repository, whatever the working directory of the process that starts it.
RIE_BINARY = ROOT / os.environ.get("RIE_BINARY", ".cache/rie/aws-lambda-rie")

FUNCTION_ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "test_function",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "3008",
    "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/test_function",
    "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/22/[$LATEST]0123456789abcdef",
    "AWS_REGION": "us-east-1",
}


def without_coverage(env: Mapping[str, str]) -> dict[str, str]:
    """`env` without what starts coverage measurement in a Python process (pyproject.toml: patch = subprocess), for
    tests that count what a fresh process imports or faults in."""
    return {k: v for k, v in env.items() if not k.startswith("COVERAGE_PROCESS_")}


def runtime_command(handler: str, runtime: str = "bootstrap") -> list[str]:
    if runtime == "awslambdaric":
        return [sys.executable, "-m", "awslambdaric", handler]
    return [str(BOOTSTRAP), handler]


def base_env(extra: Mapping[str, str] | None = None, task_root: Path = FUNCTIONS) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "_LAMBDA", "_X_AMZN", "RUNTIME_", "_HANDLER"))
    }
    env.update(FUNCTION_ENV)
    env["LAMBDA_TASK_ROOT"] = str(task_root)
    env["RUNTIME_PYTHON"] = sys.executable
    env["PYTHONPATH"] = os.pathsep.join([str(task_root), str(ROOT)])
    env.update(extra or {})
    return env


class Process:
    """A child process whose stdout and stderr go to one temporary file, readable at any time."""

    def __init__(self, command: list[str], env: Mapping[str, str], cwd: Path = FUNCTIONS) -> None:
        # Append mode: the child writes through the same open file as this process reads it (seek, read); without
        # O_APPEND its writes land at whatever offset the last read left, over earlier output.
        self._log: IO[bytes] = tempfile.TemporaryFile(mode="a+b")
        try:
            self.popen = subprocess.Popen(command, env=dict(env), cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT)
        except BaseException:
            self._log.close()
            raise

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")

    def wait(self, timeout: float = 10.0) -> int:
        return self.popen.wait(timeout)

    def stop(self) -> None:
        """SIGTERM, as Lambda ends an environment, then SIGKILL after 3 s: a runtime that exits on its own writes its
        coverage data (a killed one cannot), and one that hangs is still stopped."""
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(3)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        self._log.close()

    def wait_output(self, text: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while text not in (out := self.output()):
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not in the output within {timeout} s:\n{out}")
            time.sleep(0.01)
        return out


def init_error_document(api: LambdaApiServer, process: Process) -> dict[str, Any]:
    """The init error the runtime posted to `api` before it exited with the init-error status (1), as JSON."""
    assert process.wait(10) == 1, process.output()
    error = api.init_error()
    assert error is not None, process.output()
    document: dict[str, Any] = error.json()
    return document


def wait_until(predicate: Callable[[], object], timeout_s: float = 10.0) -> None:
    """Poll `predicate` until it is true; AssertionError after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not predicate():  # bounded by the deadline
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout_s} s")
        time.sleep(0.005)


def start_runtime(
    api_address: str, handler: str, env: Mapping[str, str] | None = None, runtime: str = "bootstrap"
) -> Process:
    return Process(runtime_command(handler, runtime), base_env({"AWS_LAMBDA_RUNTIME_API": api_address, **(env or {})}))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Rie:
    """The real AWS Runtime Interface Emulator running one runtime command, on free loopback ports."""

    def __init__(self, command: list[str], env: Mapping[str, str], cwd: Path = FUNCTIONS) -> None:
        # A port found free may be taken by another process before RIE binds it; RIE then panics and exits, and is
        # started again on other ports.
        for _ in range(3):
            self.port, self.api_port = free_port(), free_port()
            if self.port == self.api_port:
                continue
            self.process = Process(
                [
                    str(RIE_BINARY),
                    "--runtime-interface-emulator-address",
                    f"127.0.0.1:{self.port}",
                    "--runtime-api-address",
                    f"127.0.0.1:{self.api_port}",
                    *command,
                ],
                env,
                cwd,
            )
            if self._listening():
                break
            if "address already in use" not in self.process.output():
                output = self.process.output()
                self.process.stop()  # its log file too: a failure here leaks nothing into later tests
                raise AssertionError(f"RIE did not listen:\n{output}")
            self.process.stop()
        else:
            raise AssertionError("RIE found no free port in three attempts")
        self.url = f"http://127.0.0.1:{self.port}/2015-03-31/functions/function/invocations"

    def _listening(self) -> bool:
        """Wait until RIE accepts connections (True) or has exited (False)."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                # Someone listens; RIE itself if it is still running a moment later (it exits at once when the
                # port was not its to bind).
                time.sleep(0.05)
                return self.process.popen.poll() is None
            if self.process.popen.poll() is not None:
                return False
            time.sleep(0.02)
        return False

    def invoke(self, event: bytes | str | Any = b"{}", headers: Mapping[str, str] | None = None) -> tuple[int, bytes]:
        data = (
            event
            if isinstance(event, bytes)
            else (event.encode() if isinstance(event, str) else json.dumps(event).encode())
        )
        request = urllib.request.Request(self.url, data=data, headers=dict(headers or {}), method="POST")
        try:
            with urllib.request.urlopen(request, timeout=60) as reply:
                return reply.status, reply.read()
        except urllib.error.HTTPError as error:
            with error:  # closed, not left to the collector (3.14 warns: 'Implicitly cleaning up')
                return error.code, error.read()

    def stop(self) -> None:
        self.process.stop()


@contextlib.contextmanager
def rie(handler: str, runtime: str = "bootstrap", env: Mapping[str, str] | None = None) -> Iterator[Rie]:
    if not RIE_BINARY.exists():
        raise AssertionError(f"{RIE_BINARY} is missing: `make setup` fetches it")
    emulator = Rie(runtime_command(handler, runtime), base_env(env))
    try:
        yield emulator
    finally:
        emulator.stop()


class Recorder:
    """A loopback HTTP endpoint that records every POST (its time on `time.monotonic()`, the clock of the test
    Runtime API's timestamps; its path, headers and body, decompressed) and answers 200 with `reply`."""

    def __init__(self, reply: bytes = b"{}") -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.posts: list[tuple[float, str, dict[str, str], bytes]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    import gzip

                    body = gzip.decompress(body)
                elif self.headers.get("Content-Encoding") == "br":  # Sentry's SDK, when brotli is installed
                    import brotli

                    body = brotli.decompress(body)
                recorder.posts.append((time.monotonic(), self.path, dict(self.headers), body))
                self.send_response(200)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        import threading

        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, count: int, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.posts) < count:  # bounded by the deadline
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.posts)} POSTs within {timeout_s} s, expected {count}")
            time.sleep(0.02)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
