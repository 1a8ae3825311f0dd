"""Multi-concurrency under the real RIE in its Lambda Managed Instances mode (AWS_LAMBDA_MAX_CONCURRENCY set), and
the same requests against the project's emulator in its concurrent mode (`serve --concurrency N`): the conformance
check of that mode (the tests parametrized "rie" and "emulator").

That mode runs only /var/runtime/bootstrap, /var/task/bootstrap or /opt/bootstrap, as uid 993, with /var/task as
the working directory (docs/platform.md §6), so these tests need root: they write /var/task/bootstrap (a two-line
script that execs this repository's bootstrap with the system Python, which uid 993 can run) and remove /var/task
afterwards. The function's code comes from tests/functions through PYTHONPATH, which RIE passes on.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.support import BOOTSTRAP, FUNCTIONS, ROOT, Process, Rie, base_env, free_port, without_coverage

pytestmark = pytest.mark.rie

WORKERS = 3
TASK = Path("/var/task")
# The system Python of the running version first (Debian sid's python3.14/3.15 in make test-pythons' sid root), so the
# workers run the Python under test where the system has it.
SYSTEM_PYTHONS = (
    f"/usr/bin/python{sys.version_info[0]}.{sys.version_info[1]}",
    "/usr/bin/python3.11",
    "/usr/bin/python3.12",
)
SYSTEM_PYTHON = next((p for p in (*SYSTEM_PYTHONS, "/usr/bin/python3") if Path(p).exists()), None)


def _why_not() -> str | None:
    if os.geteuid() != 0:
        return "RIE's LMI mode runs the runtime as uid 993 from /var/task: needs root (CI runs as root)"
    if SYSTEM_PYTHON is None:
        return "no system Python that uid 993 can run (the test environment's is under a private home)"
    if TASK.exists():
        return "/var/task exists on this machine: not overwritten"
    return None


@contextlib.contextmanager
def lmi_rie(handler: str, extra: dict[str, str] | None = None) -> Iterator[tuple[Rie, Path]]:
    """RIE in its LMI mode serving `handler` with WORKERS workers (skips the test without root), and a folder the
    function may write to; `extra`: more variables for the function."""
    reason = _why_not()
    if reason:
        pytest.skip(reason)
    # Where uid 993 may write: directly under /tmp (pytest's tmp_path is under a folder only root may enter).
    shared = Path(tempfile.mkdtemp(prefix="lmi-"))
    shared.chmod(0o777)
    # What uid 993 runs, copied where it may read it: the checkout may be under a folder only root may enter.
    code = _readable_copy(shared / "code")
    TASK.mkdir()
    try:
        bootstrap = TASK / "bootstrap"
        bootstrap.write_text(f'#!/bin/sh\nRUNTIME_PYTHON={SYSTEM_PYTHON} exec {code / BOOTSTRAP.name} "$@"\n')
        bootstrap.chmod(0o755)
        env = without_coverage(base_env({"AWS_LAMBDA_MAX_CONCURRENCY": str(WORKERS), "_HANDLER": handler}))
        env.update(extra or {}, LMI_DIR=str(shared))
        env["PYTHONPATH"] = os.pathsep.join([str(code / "functions"), str(code)])
        emulator = Rie([], env)
        try:
            yield emulator, shared
        finally:
            emulator.stop()
    finally:
        shutil.rmtree(TASK)
        shutil.rmtree(shared)


def _readable_copy(folder: Path) -> Path:
    """`bootstrap`, `runtime/` and `tests/functions/` copied into `folder`, readable by every user."""
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "runtime", folder / "runtime", ignore=ignore)
    shutil.copytree(FUNCTIONS, folder / "functions", ignore=ignore)
    shutil.copy2(BOOTSTRAP, folder / BOOTSTRAP.name)
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() or path.name == BOOTSTRAP.name else 0o644)
    return folder


@pytest.fixture
def lmi() -> Iterator[tuple[Rie, Path]]:
    with lmi_rie("lmi.handler") as (emulator, shared):
        warm_up(emulator)
        yield emulator, shared


class Served:
    """The project's emulator, `python -m emulator serve --concurrency N`: the same invoke endpoint as RIE's."""

    def __init__(self, process: Process, port: int) -> None:
        self.process = process
        self.url = f"http://127.0.0.1:{port}/2015-03-31/functions/function/invocations"


@pytest.fixture
def emulated() -> Iterator[tuple[Served, Path]]:
    with served("lmi.handler") as (emulator, shared):
        warm_up(emulator)
        yield emulator, shared


@contextlib.contextmanager
def served(handler: str, extra: dict[str, str] | None = None) -> Iterator[tuple[Served, Path]]:
    """`python -m emulator serve --concurrency WORKERS` serving `handler`, and a folder the function may write to."""
    shared = Path(tempfile.mkdtemp(prefix="lmi-"))
    port = free_port()
    variables = [item for name, value in {**(extra or {}), "LMI_DIR": str(shared)}.items()
                 for item in ("--env", f"{name}={value}")]  # fmt: skip
    command = [sys.executable, "-m", "emulator", "serve", handler, "--task-root", str(FUNCTIONS),
               "--concurrency", str(WORKERS), "--port", str(port), *variables]  # fmt: skip
    process = Process(command, base_env(), cwd=ROOT)
    try:
        process.wait_output(f"on http://127.0.0.1:{port}")
        yield Served(process, port), shared
    finally:
        # Stopped as a user stops it, so that it stops its function too (then killed, if need be).
        process.popen.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.popen.wait(10)
        process.stop()
        shutil.rmtree(shared)


def invoke(emulator: Rie | Served, event: dict[str, Any]) -> tuple[int, Any, float]:
    """(status, body, time.monotonic() when the reply arrived); LMI mode passes the caller's Content-Type on."""
    request = urllib.request.Request(
        emulator.url, data=json.dumps(event).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            status, body = reply.status, reply.read()
    except urllib.error.HTTPError as error:
        with error:  # closed, not left to the collector (3.14 warns: 'Implicitly cleaning up')
            status, body = error.code, error.read()
    return status, json.loads(body), time.monotonic()


def warm_up(emulator: Rie | Served) -> None:
    """Until every worker has done its init: Lambda (and RIE) end init once one worker asks for work, and a request
    that finds the others still importing gets Runtime.Unavailable. Bounded: 15 s."""
    deadline = time.monotonic() + 15
    while True:
        results = concurrently(emulator, [{"sleep_ms": 100}] * WORKERS)
        if all(status == 200 and "pid" in body for status, body, _ in results):
            return
        assert time.monotonic() < deadline, (results, emulator.process.output())
        time.sleep(0.1)


def concurrently(emulator: Rie | Served, events: list[dict[str, Any]]) -> list[tuple[int, Any, float]]:
    with ThreadPoolExecutor(max_workers=len(events)) as pool:
        return list(pool.map(lambda event: invoke(emulator, event), events))


def full_capacity(emulator: Rie) -> list[tuple[int, Any, float]]:
    """WORKERS invocations at once, each served, once a replaced worker is back: until the replacement has waited out
    the 1 s minimum lifetime and done its init, a request may find no free worker, or be handed to the dead worker's
    /next (RIE then reports an error). Bounded: full capacity must be back within 10 s."""
    deadline = time.monotonic() + 10
    while True:
        results = concurrently(emulator, [{"sleep_ms": 300}] * WORKERS)
        if all(status == 200 and "pid" in result for status, result, _ in results) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert all(status == 200 and "pid" in result for status, result, _ in results), (results, emulator.process.output())
    return results


@pytest.mark.parametrize("where", ["rie", "emulator"])
def test_invocations_run_at_once_in_different_workers(where: str, request: pytest.FixtureRequest) -> None:
    emulator, _ = request.getfixturevalue("lmi" if where == "rie" else "emulated")
    results = concurrently(emulator, [{"sleep_ms": 500}] * WORKERS)
    assert all(status == 200 for status, _, _ in results), emulator.process.output()
    bodies = [body for _, body, _ in results]
    assert len({body["pid"] for body in bodies}) == WORKERS
    if where == "rie":
        assert {body["uid"] for body in bodies} == {993}
    # Every handler started before any ended: they ran at the same time.
    assert max(body["started"] for body in bodies) < min(body["ended"] for body in bodies)


@pytest.mark.parametrize("where", ["rie", "emulator"])
def test_the_caller_has_the_response_while_the_worker_runs_its_phase(
    where: str, request: pytest.FixtureRequest
) -> None:
    emulator, shared = request.getfixturevalue("lmi" if where == "rie" else "emulated")
    status, _, replied_at = invoke(emulator, {"defer_ms": 1000})
    assert status == 200
    done = next(shared.glob("phase-done-*"), None)
    assert done is None  # the deferred second had not ended when the reply arrived
    deadline = time.monotonic() + 10
    while done is None and time.monotonic() < deadline:  # bounded: the phase ends a second later
        time.sleep(0.05)
        done = next(shared.glob("phase-done-*"), None)
    assert done is not None and float(done.read_text()) > replied_at


@pytest.mark.parametrize("where", ["rie", "emulator"])
def test_a_request_finding_every_worker_in_its_phase_gets_runtime_unavailable(
    where: str, request: pytest.FixtureRequest
) -> None:
    """The conformance check of the emulator's concurrent mode: the same requests, the same answers as RIE's."""
    emulator, _ = request.getfixturevalue("lmi" if where == "rie" else "emulated")
    busy = concurrently(emulator, [{"defer_ms": 2000}] * WORKERS)
    assert all(status == 200 for status, _, _ in busy)
    status, body, _ = invoke(emulator, {})
    assert (status, body["errorType"]) == (400, "Runtime.Unavailable")


def test_a_killed_worker_is_replaced_and_capacity_comes_back(lmi: tuple[Rie, Path]) -> None:
    emulator, _ = lmi
    _, body, _ = invoke(emulator, {})
    os.kill(body["pid"], signal.SIGKILL)
    emulator.process.wait_output(f"(pid {body['pid']}) was killed by signal 9: starting a replacement")
    results = full_capacity(emulator)
    assert body["pid"] not in {result["pid"] for _, result, _ in results}


def test_sigterm_to_the_process_group_runs_every_workers_shutdown_hooks(lmi: tuple[Rie, Path]) -> None:
    """At shutdown Lambda sends SIGTERM to the runtime's process group (RIE's LMI code: `Kill(-pgid, SIGTERM)`);
    RIE's own signal handler kills the runtime at once instead, so the test sends the group's SIGTERM itself."""
    emulator, _ = lmi
    concurrently(emulator, [{"sleep_ms": 200}] * WORKERS)  # every worker has done its init
    started = re.search(r"LocalProcessSupervisor.Exec pid=(\d+)", emulator.process.output())
    assert started is not None, emulator.process.output()
    runtime_pid = int(started.group(1))
    os.killpg(os.getpgid(runtime_pid), signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # bounded: until the runtime's parent has exited
        try:
            os.kill(runtime_pid, 0)
        except ProcessLookupError:
            break
        if "Runtime exited" in emulator.process.output():
            break
        time.sleep(0.05)
    output = emulator.process.output()
    assert len(set(re.findall(r"shutdown hook ran in pid (\d+)", output))) == WORKERS, output
    # No internal extension registers in this mode: nothing was refused (RIE answers 403 to an internal extension
    # that subscribes to events, and to a second one of the same name).
    # (A status 403 standing alone: request ids are hex and may hold "403".)
    assert not re.search(r"(?<![0-9a-f-])403(?![0-9a-f-])", output) and "Internal agent" not in output, output


def test_a_handlers_sys_exit_2_replaces_only_its_worker() -> None:
    """argparse and click exit 2 on a usage error: under RIE's LMI mode too, that exit replaces only its worker. The
    runtime (the parent RIE started) stays up, another worker's invocation in flight is not cut, and full capacity
    comes back."""
    with lmi_rie("worker_exit.handler") as (emulator, shared), ThreadPoolExecutor(max_workers=1) as background:
        warm_up(emulator)
        release = shared / "release"
        held = background.submit(invoke, emulator, {"hold": str(release)})
        deadline = time.monotonic() + 10
        while not list(shared.glob("holding-*")) and time.monotonic() < deadline:  # bounded: the function's mark
            time.sleep(0.02)
        assert list(shared.glob("holding-*")), emulator.process.output()
        status, body, _ = invoke(emulator, {"exit": 2})
        assert body["errorType"] == "SystemExit", (status, body)
        emulator.process.wait_output("exited with status 2: starting a replacement")
        release.touch()
        status, body, _ = held.result(timeout=30)
        assert (status, body["held"]) == (200, True), emulator.process.output()
        results = full_capacity(emulator)
        output = emulator.process.output()
        assert len({result["pid"] for _, result, _ in results}) == WORKERS
        assert "lost the Runtime API" not in output and "Runtime exited" not in output, output


# Tasks mode: RUNTIME_WORKER_PROCESSES=1, every invocation a task of one process's event loop -----------------------

TASKS = {"RUNTIME_WORKER_PROCESSES": "1"}


@pytest.mark.parametrize("where", ["rie", "emulator"])
def test_tasks_mode_serves_every_invocation_at_once_in_one_process(where: str) -> None:
    """Under RIE's LMI mode (as uid 993) and the emulator's: WORKERS invocations in flight in one process, each
    caller answered while its phase still runs, each phase over after its response."""
    opened = lmi_rie if where == "rie" else served
    with opened("lmi.async_handler", TASKS) as (emulator, shared):
        warm_up(emulator)
        results = concurrently(emulator, [{"sleep_ms": 500, "defer_ms": 700}] * WORKERS)
        assert all(status == 200 for status, _, _ in results), emulator.process.output()
        bodies = [body for _, body, _ in results]
        assert len({body["pid"] for body in bodies}) == 1  # one process...
        assert max(body["started"] for body in bodies) < min(body["ended"] for body in bodies)  # ...all at once
        replied_at = max(at for _, _, at in results)
        assert not list(shared.glob("phase-done-*"))  # the callers had their responses before any phase ended
        deadline = time.monotonic() + 10
        while len(list(shared.glob("phase-done-*"))) < WORKERS and time.monotonic() < deadline:  # bounded
            time.sleep(0.05)
        done = sorted(float(path.read_text()) for path in shared.glob("phase-done-*"))
        assert len(done) == WORKERS and min(done) > replied_at, emulator.process.output()
        if where == "rie":
            assert {body["uid"] for body in bodies} == {993}
