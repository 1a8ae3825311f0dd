"""A local Lambda execution environment with real Lambda's timing (platform §2-4).

It runs the real runtime as a child process (the clone's `bootstrap`, or the runtime installed beside the emulator:
`find_bootstrap`) with the environment Lambda gives, serves it the Runtime and Extensions APIs (`server.py`), and
plays the synchronous caller: the caller gets the result when the runtime POSTs it, the invocation ends when the
runtime and its extensions call next, the function timeout covers the whole invocation including the after-response
phase, and a timeout or a crash resets the environment (the next invoke is a cold start). RIE instead holds the
caller's reply until `/next` (platform §2.2), which makes after-response work look like latency; this emulator shows
it as Lambda does. "platform §N" is docs/platform.md.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import secrets
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO

from .server import LambdaApiServer, Result
from .timeline import Hook, Timeline, parse_hooks

INIT_LIMIT_S = 10.0  # platform §4.1: "The Init phase is limited to 10 seconds"
SHUTDOWN_BUDGET_S = 0.5  # platform §3.4: 500 ms for a runtime with an internal extension
_POLL_S = 0.005
# Passed from the emulator's environment to the function's: AWS credentials and where SDKs look for them.
_FORWARDED = frozenset(
    {
        "HOME", "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
        "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CA_BUNDLE", "AWS_ENDPOINT_URL",
    }
)  # fmt: skip

ResultCallback = Callable[[Result], None]
# A chunk of a streamed response as the caller gets it: (ms since the invoke was received, its bytes, the stream's
# headers).
ChunkCallback = Callable[[float, bytes, dict[str, str]], None]


#: the command the runtime's distribution installs (its [tool.hatch.build.targets.wheel.shared-scripts])
RUNTIME_SCRIPT = "after-response-runtime"
RUNTIME_DISTRIBUTION = "lambda-after-response-runtime"


class RuntimeNotFound(Exception):
    """No runtime to start: the emulator is installed without the runtime beside it."""


def find_bootstrap() -> list[str]:
    """The command that starts the runtime (the handler is appended).

    In a clone of the repository, its `bootstrap` (the runtime as Lambda starts it, from the clone's `runtime/`).
    Installed (`lambda-after-response-emulator`), the runtime installed in the same environment: the
    `after-response-runtime` command beside this interpreter (a venv's bin folder), else `python -m runtime` with this
    interpreter when its `runtime` package is the runtime. Neither: RuntimeNotFound, saying what to install.
    """
    clone = Path(__file__).resolve().parent.parent
    candidate = clone / "bootstrap"
    if candidate.is_file() and os.access(candidate, os.X_OK) and (clone / "runtime" / "main.py").is_file():
        return [str(candidate)]
    script = Path(sys.executable).parent / RUNTIME_SCRIPT
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    # Found, not imported: the emulator imports nothing of the runtime.
    spec = importlib.util.find_spec("runtime")
    if spec is not None and any(Path(place, "main.py").is_file() for place in spec.submodule_search_locations or []):
        return [sys.executable, "-u", "-m", "runtime"]
    raise RuntimeNotFound(
        f"no runtime to start: {RUNTIME_DISTRIBUTION} is not installed in this environment ({sys.prefix}); "
        f"install it there (pip install {RUNTIME_DISTRIBUTION}, or from a clone: pip install ./CLONE), "
        "or name a runtime command with --runtime"
    )


class Emulator:
    """One Lambda execution environment for one function; `invoke()` runs one invocation through it."""

    def __init__(
        self,
        handler: str,
        task_root: Path,
        *,
        timeout_s: float = 3.0,
        memory_mb: int = 128,
        function_name: str = "function",
        log_format: str | None = None,
        log_level: str | None = None,
        env: Mapping[str, str] | None = None,
        command: list[str] | None = None,
        log: Callable[[str], None] | None = None,
        init_limit_s: float = INIT_LIMIT_S,
        concurrency: int | None = None,
        watch: bool = False,
    ) -> None:
        self.handler = handler
        self.task_root = task_root.resolve()
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.function_name = function_name
        self.extra_env = dict(env or {})
        # The ARN the runtime is handed names this function in this region (context.invoked_function_arn).
        self.region = self.extra_env.get("AWS_REGION") or os.environ.get("AWS_REGION", "us-east-1")
        self.log_format = log_format
        self.log_level = log_level
        self.command = command or find_bootstrap()
        self.log = log or (lambda line: sys.stderr.write(line))
        self.init_limit_s = init_limit_s
        #: Lambda Managed Instances: invocations at once (worker processes); deadlines are reported, not enforced
        self.concurrency = concurrency
        #: restart the runtime (a cold start, as after a deployment) when a .py file under the task root changed,
        #: checked before each invocation
        self.watch = watch
        self._sources: dict[str, tuple[int, int]] = {}
        self._in_flight = 0  # concurrent mode: invocations running, which a restart for --watch waits for
        self.server = LambdaApiServer(
            timeout_s=timeout_s,
            concurrency=concurrency,
            route_at_init_end=True,
            function_name=function_name,
            region=self.region,
        ).start()
        self.process: subprocess.Popen[bytes] | None = None
        self._started_at = 0.0
        self._lock = threading.Lock()
        self._hooks: dict[str, list[Hook]] = {}
        self._hooks_lock = threading.Lock()
        self._reader: threading.Thread | None = None
        # Held by the output reader from a read of the runtime's output to the end of handling its lines, and by
        # _drain_output to look at the pipe (see there).
        self._output_lock = threading.Lock()

    # The environment -------------------------------------------------------------------------------------------

    def environment(self) -> dict[str, str]:
        """What Lambda puts in the runtime's environment (platform §4.2), plus the caller's RUNTIME_* settings."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "LANG": os.environ.get("LANG", "en_US.UTF-8"),
            "TZ": ":UTC",
            "AWS_LAMBDA_RUNTIME_API": self.server.address,
            "_HANDLER": self.handler,
            "LAMBDA_TASK_ROOT": str(self.task_root),
            "AWS_LAMBDA_FUNCTION_NAME": self.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.function_name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": time.strftime("%Y/%m/%d/[$LATEST]") + secrets.token_hex(16),
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "RUNTIME_PYTHON": sys.executable,
        }
        env.update({k: v for k, v in os.environ.items() if k.startswith("RUNTIME_") and k != "RUNTIME_PYTHON"})
        # What AWS SDKs need to find credentials, as `sam local` passes them: the function can call AWS as you.
        env.update({k: v for k, v in os.environ.items() if k in _FORWARDED})
        if self.concurrency is not None:
            # What Lambda (and RIE's LMI mode) sets for a Managed Instances function: JSON logs always.
            env["AWS_LAMBDA_MAX_CONCURRENCY"] = str(self.concurrency)
            env["AWS_LAMBDA_INITIALIZATION_TYPE"] = "lambda-managed-instances"
            env["AWS_LAMBDA_LOG_FORMAT"] = "JSON"
        if self.log_format:
            env["AWS_LAMBDA_LOG_FORMAT"] = self.log_format
        if self.log_level:
            env["AWS_LAMBDA_LOG_LEVEL"] = self.log_level
        env.update(self.extra_env)
        return env

    def _start(self) -> None:
        self.server.reset()
        if self.watch:
            self._sources = python_sources(self.task_root)
        self._started_at = time.monotonic()
        self.process = subprocess.Popen(
            [*self.command, self.handler],
            env=self.environment(),
            cwd=self.task_root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        assert self.process.stdout is not None
        self._reader = threading.Thread(target=self._read_output, args=(self.process.stdout,), daemon=True)
        self._reader.start()

    def _read_output(self, stream: IO[bytes]) -> None:
        # Unbuffered reads, each with the handling of its lines under _output_lock, and the wait for output outside
        # it: with the lock held, "nothing left in the pipe" means every line written so far has been handled (see
        # _drain_output).
        fd = stream.fileno()
        readable = select.poll()
        readable.register(fd, select.POLLIN)
        pending = b""
        while True:
            readable.poll()
            with self._output_lock:
                chunk = os.read(fd, 65536)
                if not chunk:
                    if pending:
                        self._handle_line(pending.decode("utf-8", "replace"))
                    return
                *lines, pending = (pending + chunk).split(b"\n")
                for raw in lines:
                    self._handle_line(raw.decode("utf-8", "replace") + "\n")

    def _handle_line(self, line: str) -> None:
        # The runtime joins a multi-line record (a traceback) with "\r" so that CloudWatch keeps it one event; a
        # terminal would print each part over the last, so locally each part gets a line of its own.
        self.log(line.replace("\r", "\n"))
        hooks = parse_hooks(line)
        if hooks is not None:
            with self._hooks_lock:
                self._hooks[_request_id_of(line)] = hooks

    def _drain_output(self, limit_s: float = 1.0) -> None:
        """Wait until the output reader has handled everything the runtime wrote so far (bounded). Under
        _output_lock, an empty pipe means that: the reader reads and handles under the same lock, so no read can be
        between taking bytes out of the pipe and handling them (a busy flag set after the read left that window
        open, and on a loaded machine a timeline now and then missed its hooks)."""
        if self.process is None or self.process.stdout is None:
            return
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            with self._output_lock:
                try:
                    unread = struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]
                except OSError:
                    return
                if unread == 0:
                    return
            time.sleep(0.0005)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop_environment(self) -> None:
        """Lambda's shutdown: SIGTERM when an extension is registered, SIGKILL after the budget (platform §3.4)."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            if self.server.extension_names():
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(SHUTDOWN_BUDGET_S)
                except subprocess.TimeoutExpired:
                    process.kill()
            else:
                process.kill()
            process.wait()
        if self._reader is not None:
            self._reader.join(2)
        if process.stdout is not None:
            process.stdout.close()
        self.process = None

    def close(self) -> None:
        with self._lock:
            self.stop_environment()
            self.server.stop()

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # One invocation --------------------------------------------------------------------------------------------

    def invoke(
        self,
        event: bytes,
        headers: Mapping[str, str] | None = None,
        on_result: ResultCallback | None = None,
        on_chunk: ChunkCallback | None = None,
    ) -> tuple[Result, Timeline]:
        """Run one invocation. `on_result` gets the caller's result the moment it exists; the call returns when
        the invocation has ended (or was reset), with its timeline."""
        if self.concurrency is not None:
            return self._invoke_concurrently(event, headers, on_result)
        received_at = time.monotonic()
        # One invocation at a time, as in one Lambda environment: a request that arrives while another invocation
        # (its after-response phase too) runs waits here, and its timeline shows that wait as queued.
        queued = not self._lock.acquire(blocking=False)
        if queued:
            self._lock.acquire()
        try:
            cold = self._start_if_needed()
            request_id = self.server.submit(event, dict(headers or {}), self.timeout_s)
            result = self._await_result(request_id, on_chunk)
            if on_result is not None:
                on_result(result)
            self._await_end(request_id, result)
            return result, self._timeline(request_id, result, cold, received_at if queued else None)
        finally:
            self._lock.release()

    def _invoke_concurrently(
        self, event: bytes, headers: Mapping[str, str] | None, on_result: ResultCallback | None
    ) -> tuple[Result, Timeline]:
        """Lambda Managed Instances: callers do not wait for each other (one worker each, or Runtime.Unavailable),
        and the function timeout is reported to the handler but not enforced (platform §6)."""
        with self._lock:
            cold = self._start_if_needed()
            self._in_flight += 1
        try:
            return self._run_concurrently(event, headers, on_result, cold)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _run_concurrently(
        self, event: bytes, headers: Mapping[str, str] | None, on_result: ResultCallback | None, cold: bool
    ) -> tuple[Result, Timeline]:
        request_id = self.server.submit(event, dict(headers or {}), self.timeout_s)
        while True:
            try:
                result = self.server.result(request_id, _POLL_S)
                break
            except TimeoutError:
                if not self.alive():
                    result = self._fail(request_id, self._exit_result(request_id))
                    break
        if on_result is not None:
            on_result(result)
        while result.kind in ("response", "error") and self.alive():
            try:
                self.server.wait_ended(request_id, _POLL_S)
                break
            except TimeoutError:
                pass
        return result, self._timeline(request_id, result, cold)

    def _start_if_needed(self) -> bool:
        """Start the environment if it is not running (a cold start: True). Called under `_lock`."""
        if self.alive() and self.watch and self._in_flight == 0:
            changed = _changed(self._sources, python_sources(self.task_root))
            if changed:
                # A deployment of the new code: the old environment gets its shutdown, the next one a cold start.
                self.log(f"emulator: {changed} changed; restarting the function (a cold start)\n")
                self.stop_environment()
        if self.alive():
            return False
        self.stop_environment()
        self._start()
        return True

    def _pass_on_chunks(self, request_id: str, seen: int, on_chunk: ChunkCallback | None) -> int:
        """Give `on_chunk` the chunks of a streamed response that arrived since the first `seen`; the new count."""
        if on_chunk is None:
            return seen
        submitted = self.server.timing(request_id).submitted_at
        headers, live = self.server.streamed_so_far(request_id)
        for at, data in live[seen:]:
            on_chunk((at - submitted) * 1000, data, headers)
        return len(live)

    def _await_result(self, request_id: str, on_chunk: ChunkCallback | None = None) -> Result:
        retried_init = False
        seen = 0
        while True:
            seen = self._pass_on_chunks(request_id, seen, on_chunk)  # passed on as they arrive
            try:
                result = self.server.result(request_id, _POLL_S)
            except TimeoutError:
                result = None
            if result is not None:
                self._pass_on_chunks(request_id, seen, on_chunk)  # the last ones, which came with the result
                return result
            timing = self.server.timing(request_id)
            if not self.alive():
                return self._fail(request_id, self._exit_result(request_id))
            if not timing.dispatched_at and not self.server.initialized.is_set():
                if time.monotonic() - self._started_at > self.init_limit_s:
                    if retried_init:
                        return self._fail(request_id, _timeout_result(request_id, self.timeout_s))
                    # platform §4.1: Lambda retries init during the first invocation, with the function timeout.
                    retried_init = True
                    self.log(f"emulator: init took over {self.init_limit_s:.0f} s; starting it again\n")
                    self.stop_environment()
                    self._start()
                    self._started_at = time.monotonic() - self.init_limit_s + self.timeout_s
            elif timing.dispatched_at and time.time() * 1000 > timing.deadline_ms:
                self.stop_environment()
                return self._fail(request_id, _timeout_result(request_id, self.timeout_s))

    def _await_end(self, request_id: str, result: Result) -> None:
        if result.kind not in ("response", "error"):
            return  # the environment was reset, or init failed: nothing more to wait for
        while True:
            try:
                self.server.wait_ended(request_id, _POLL_S)
                return
            except TimeoutError:
                pass
            if not self.alive():
                self.server.finish_current(result)
                return
            if time.time() * 1000 > self.server.timing(request_id).deadline_ms:
                # The function timeout covers the after-response phase too: the caller keeps its response, the
                # environment is reset and the next invocation is a cold start (platform §2.3).
                self.log(f"emulator: {request_id} timed out after its response; resetting the environment\n")
                self.stop_environment()
                self.server.finish_current(result)
                return

    def _fail(self, request_id: str, result: Result) -> Result:
        self.server.fail(request_id, result)
        return result

    def _exit_result(self, request_id: str) -> Result:
        init_error = self.server.init_error()
        if init_error is not None:
            return init_error
        assert self.process is not None
        code = self.process.returncode
        status = f"signal: {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
        body = {
            "errorType": "Runtime.ExitError",
            "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: {status}",
        }
        # Not "error": nothing was posted, so the timeline shows no response and no after-response phase.
        return Result("exit_error", json.dumps(body).encode(), {}, time.monotonic())

    def _timeline(self, request_id: str, result: Result, cold: bool, received_at: float | None = None) -> Timeline:
        """The invocation's steps, from the moment it was received: `received_at` when it waited for another
        invocation to end, else its submission."""
        timing = self.server.timing(request_id)
        start = received_at if received_at is not None else timing.submitted_at

        def since(at: float) -> float | None:
            return (at - start) * 1000 if at else None

        timeline = Timeline(
            request_id,
            queued_ms=since(timing.submitted_at) if received_at is not None else None,
            cold_start=cold,
            init_done_ms=since(timing.dispatched_at) if cold else None,
            delivered_ms=since(timing.dispatched_at),
            response_ms=since(timing.responded_at) if result.kind in ("response", "error") else None,
            next_ms=since(timing.runtime_next_at),
            ended_ms=since(timing.ended_at),
            outcome=result.kind,
            first_byte_ms=since(result.chunks[0][0]) if result.chunks else None,
        )
        if timeline.next_ms is not None:
            # The runtime writes its summary record before it calls /next: once the reader has caught up with the
            # output, the record (if the runtime's log level lets it through) has been seen.
            self._drain_output()
            with self._hooks_lock:
                timeline.hooks = self._hooks.pop(request_id, [])
        return timeline


# Folders --watch does not look into: not the function's own code, or too many files to scan before every invocation.
_UNWATCHED = frozenset({"__pycache__", "node_modules", "site-packages"})


def python_sources(task_root: Path) -> dict[str, tuple[int, int]]:
    """Every .py file under `task_root` (path relative to it: modification time in ns, size), for --watch. Hidden
    folders, __pycache__ and virtual environments (a folder with a pyvenv.cfg) are left out."""
    found: dict[str, tuple[int, int]] = {}
    folders = [str(task_root)]
    while folders:
        folder = folders.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        if folder != str(task_root) and any(entry.name == "pyvenv.cfg" for entry in entries):
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    if not entry.name.startswith(".") and entry.name not in _UNWATCHED:
                        folders.append(entry.path)
                elif entry.name.endswith(".py"):
                    stat = entry.stat()
                    found[os.path.relpath(entry.path, task_root)] = (stat.st_mtime_ns, stat.st_size)
            except OSError:
                continue
    return found


def _changed(before: Mapping[str, tuple[int, int]], after: Mapping[str, tuple[int, int]]) -> str | None:
    """The first .py file added, removed or changed between two `python_sources`, else None."""
    for path in sorted(before.keys() | after.keys()):
        if before.get(path) != after.get(path):
            return path
    return None


def _timeout_result(request_id: str, timeout_s: float) -> Result:
    body = {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {request_id} Error: Task timed out after {timeout_s:.2f} seconds",
    }
    return Result("timeout", json.dumps(body).encode(), {}, time.monotonic())


def _request_id_of(line: str) -> str:
    if line.startswith("{"):
        try:
            return str(json.loads(line).get("requestId", ""))
        except ValueError:
            return ""
    fields = line.split("\t")
    return fields[2] if len(fields) > 3 else ""
