"""The multi-concurrency rows: this runtime and awslambdaric under the real RIE in its Lambda Managed Instances mode
(AWS_LAMBDA_MAX_CONCURRENCY=4), with a 5 ms handler.

RIE's LMI mode runs only /var/task/bootstrap (or /var/runtime, /opt) as uid 993, so this needs root; it writes
/var/task/bootstrap and removes /var/task afterwards (and is skipped, with a note, when /var/task exists or root is
missing). Both runtimes run on the system Python (uid 993 cannot run the one under a private home), the code from
copies of this repository's code and of the test environment's awslambdaric on PYTHONPATH.

Measured, per runtime: throughput with 4 client threads back to back (a fixed number of invocations), peak RSS
summed over the runtime's whole process group (VmHWM of the parent and every worker), its PSS (shared pages counted
once), and the time to response of an invocation with 200 ms of after-response work (ours: deferred; awslambdaric:
in the handler).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .model import FUNCTIONS, ROOT, Results, api_gateway_event
from .stats import percentile

WORKERS = 4
TASK = Path("/var/task")
SYSTEM_PYTHONS = ("/usr/bin/python3.11", "/usr/bin/python3.12", "/usr/bin/python3.13", "/usr/bin/python3")
RIE = ROOT / ".cache" / "rie" / "aws-lambda-rie"


def unavailable() -> str | None:
    """Why the rows cannot be measured here, or None."""
    if os.geteuid() != 0:
        return "not root: RIE's LMI mode runs the runtime as uid 993 from /var/task"
    if TASK.exists():
        return "/var/task exists on this machine: not overwritten"
    if not RIE.exists():
        return f"{RIE} is missing (make setup)"
    if _system_python() is None:
        return "no system Python that uid 993 can run"
    return None


def _system_python() -> str | None:
    return next((path for path in SYSTEM_PYTHONS if Path(path).exists()), None)


def _command(runtime: str, python: str, code: Path) -> str:
    if runtime == "ours":
        return f'RUNTIME_PYTHON={python} exec {code / "bootstrap"} "$@"'
    return f'exec {python} -m awslambdaric "$_HANDLER"'


class _Rie:
    def __init__(
        self,
        runtime: str,
        python: str,
        log: Path,
        code: Path,
        handler: str = "bench_lmi.handler",
        concurrency: int = WORKERS,
        settings: dict[str, str] | None = None,
    ) -> None:
        import socket

        def free() -> int:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port: int = sock.getsockname()[1]
                return port

        TASK.mkdir()
        (TASK / "bootstrap").write_text(f"#!/bin/sh\n{_command(runtime, python, code)}\n")
        (TASK / "bootstrap").chmod(0o755)
        self.port = free()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "_", "RUNTIME_", "COVERAGE_"))}
        env.update(
            {
                "AWS_LAMBDA_MAX_CONCURRENCY": str(concurrency),
                "_HANDLER": handler,
                "AWS_LAMBDA_FUNCTION_TIMEOUT": "30",
                # The function, this runtime, and awslambdaric with its dependencies from the test environment.
                "PYTHONPATH": os.pathsep.join([str(code / "functions"), str(code), str(code / "packages")]),
                **(settings or {}),
            }
        )
        self.concurrency = concurrency
        #: what warm_up sends: an event every handler of the run answers
        self.warm_event: dict[str, object] = {}
        self.log = log
        self.output = log.open("wb")
        self.process = subprocess.Popen(
            [str(RIE), "--runtime-interface-emulator-address", f"127.0.0.1:{self.port}",
             "--runtime-api-address", f"127.0.0.1:{free()}"],
            env=env, stdout=self.output, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.url = f"http://127.0.0.1:{self.port}/2015-03-31/functions/function/invocations"

    def invoke(self, event: dict[str, object]) -> tuple[bool, float]:
        data = json.dumps(event).encode()
        request = urllib.request.Request(self.url, data=data, headers={"Content-Type": "application/json"})
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=60) as reply:
                ok = reply.status == 200 and b"errorType" not in reply.read()
        except OSError:
            ok = False
        return ok, time.perf_counter() - started

    def invoke_until_served(self, event: dict[str, object]) -> int:
        """Invoke, again at once while every worker is busy (Runtime.Unavailable: a client's retry of Lambda's
        429); returns how many times it was refused. Bounded: 1,000 refusals."""
        for refused in range(1000):
            if self.invoke(event)[0]:
                return refused
        raise RuntimeError("refused 1,000 times in a row")

    def warm_up(self) -> None:
        deadline = time.monotonic() + 20
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            while time.monotonic() < deadline:  # bounded: until every worker has done its init
                if all(ok for ok, _ in pool.map(lambda _: self.invoke(self.warm_event), range(self.concurrency))):
                    return
                time.sleep(0.1)
        raise RuntimeError(f"the workers did not all start within 20 s; see {self.log}")

    def group_hwm_kb(self) -> float:
        """VmHWM summed over the runtime's process group (parent and workers): RSS counts each page shared between
        processes once per process."""
        return self._group_sum("status", r"VmHWM:\s+(\d+) kB")

    def group_rss_kb(self) -> float:
        """VmRSS summed over the runtime's process group now."""
        return self._group_sum("status", r"VmRSS:\s+(\d+) kB")

    def group_pss_kb(self) -> float:
        """PSS summed over the runtime's process group now: each shared page divided among the processes that map
        it, so the sum is the memory the group really takes (`/proc/PID/smaps_rollup`, Linux 4.14+)."""
        return self._group_sum("smaps_rollup", r"\nPss:\s+(\d+) kB")

    def _group_sum(self, file: str, pattern: str) -> float:
        found = re.search(rb"LocalProcessSupervisor.Exec pid=(\d+)", self.log.read_bytes())
        if found is None:
            return float("nan")
        group = os.getpgid(int(found.group(1)))
        total = 0.0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if os.getpgid(int(entry.name)) != group:
                    continue
                text = (entry / file).read_text()
            except (ProcessLookupError, OSError):
                continue
            value = re.search(pattern, text)
            if value:
                total += float(value.group(1))
        return total

    def close(self) -> None:
        self.process.kill()
        self.process.wait(10)
        self.output.close()
        shutil.rmtree(TASK, ignore_errors=True)


def _readable_code(folder: Path, python: str, web: bool = False) -> Path:
    """What uid 993 runs, copied into `folder` and readable by every user (the checkout may be under a folder only
    root may enter): `bootstrap`, `runtime/`, the bench's functions, and only the packages the runtimes import (the
    whole site-packages on PYTHONPATH would make the system Python's start-up import more: certifi, ~4 MB of every
    process)."""
    ignore = shutil.ignore_patterns("__pycache__")
    site = Path(sysconfig.get_paths()["purelib"])
    shutil.copytree(ROOT / "runtime", folder / "runtime", ignore=ignore)
    shutil.copytree(FUNCTIONS, folder / "functions", ignore=ignore)
    shutil.copy2(ROOT / "bootstrap", folder / "bootstrap")
    packages = folder / "packages"
    packages.mkdir()
    for name in ("awslambdaric", "simplejson", "snapshot_restore_py"):
        if (site / name).exists():
            shutil.copytree(site / name, packages / name, ignore=ignore)
    for extension in site.glob("runtime_client*"):  # awslambdaric's C client, a top-level module
        shutil.copy2(extension, packages / extension.name)
    if web:
        _web_packages(python, packages)
    # Bytecode for the interpreter that runs them, as both runtimes have it where they are installed.
    subprocess.run([python, "-m", "compileall", "-q", str(folder)], check=True, timeout=300)
    for path in [folder, *folder.rglob("*")]:
        executable = path.is_dir() or path.name == "bootstrap" or path.suffix == ".so"
        path.chmod(0o755 if executable else 0o644)
    return folder


def measure(results: Results, invocations: int, paced: int, progress: Callable[[str], None], rounds: int = 3) -> None:
    """Add the rows' samples to `results`: `rounds` rounds, each runtime once per round, alternated (this machine's
    noise, and RIE's occasional 40-140 ms stalls that both runtimes see, spread over both)."""
    python = _system_python()
    assert python is not None
    log_dir = Path(tempfile.mkdtemp(prefix="bench-lmi-"))
    log_dir.chmod(0o755)
    code = _readable_code(log_dir / "code", python)
    for runtime in ("ours", "ric") * rounds:
        emulator = _Rie(runtime, python, log_dir / f"{runtime}.log", code)
        try:
            emulator.warm_up()
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=WORKERS) as pool:
                refused = sum(pool.map(emulator.invoke_until_served, [{}] * invocations))
            results.add("lmi_throughput", runtime, invocations / (time.perf_counter() - started))
            results.add("lmi_rss_hwm", runtime, emulator.group_hwm_kb() / 1024)
            results.add("lmi_pss", runtime, emulator.group_pss_kb() / 1024)
            results.notes.append(
                f"multi-concurrency ({runtime}): {refused} Runtime.Unavailable answers retried while "
                f"{invocations} invocations were served by {WORKERS} client threads"
            )
            # One invocation every 250 ms: each finds a worker free. With 200 ms of after-response work, and without.
            cases: tuple[tuple[str, dict[str, object]], ...] = (
                ("lmi_work_response", {"after_ms": 200}),
                ("lmi_paced_response", {}),
            )
            for metric, event in cases:
                latencies = []
                for _ in range(paced):
                    latencies.append(emulator.invoke(event)[1] * 1e6)
                    time.sleep(0.25)
                results.add(metric, runtime, percentile(latencies, 50))
        finally:
            emulator.close()
        progress(
            f"  LMI x{invocations} {runtime:8} {results.get('lmi_throughput', runtime)[-1]:7.0f}/s, "
            f"peak RSS of the group {results.get('lmi_rss_hwm', runtime)[-1]:.1f} MiB, "
            f"PSS {results.get('lmi_pss', runtime)[-1]:.1f} MiB"
        )
    shutil.rmtree(log_dir, ignore_errors=True)


# N=16: tasks mode against a process per invocation -----------------------------------------------------------------

CONCURRENCY = 16

#: (metric prefix, runtime key, handler, this runtime's settings): each configuration of the N=16 rows. awslambdaric
#: runs a process per invocation whatever its handler; this runtime in tasks mode (one process) and forked.
_CONFIGURATIONS: tuple[tuple[str, str, str, dict[str, str]], ...] = (
    ("lmi16", "ric", "bench_lmi_tasks.blocking", {}),
    ("lmi16", "ours", "bench_lmi_tasks.handler", {"RUNTIME_WORKER_PROCESSES": "1"}),
    ("lmi16_forked", "ours", "bench_lmi_tasks.blocking", {}),
    ("lmi16_web", "ric", "bench_web_mangum.handler", {}),
    ("lmi16_web", "ours", "bench_web_asgi.handler", {"RUNTIME_WORKER_PROCESSES": "1"}),
)


def _web_event() -> dict[str, object]:
    event = api_gateway_event()
    event["rawPath"] = "/wait"
    event["requestContext"]["http"]["path"] = "/wait"  # type: ignore[index]
    return event


def _web_packages(python: str, packages: Path) -> None:
    """The packages the FastAPI app and Mangum import, copied into `packages` (the app's rows only)."""
    site = Path(sysconfig.get_paths()["purelib"])
    probe = (
        "import sys, bench_web_app, mangum; "
        f"print('\\n'.join(sorted({{m.split('.')[0] for m, v in list(sys.modules.items()) "
        f"if (getattr(v, '__file__', None) or '').startswith({str(site)!r})}})))"
    )
    names = subprocess.run(
        [sys.executable, "-c", probe], env={**os.environ, "PYTHONPATH": str(FUNCTIONS)},
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout.split()  # fmt: skip
    ignore = shutil.ignore_patterns("__pycache__")
    for name in names:
        if (site / name).is_dir() and not (packages / name).exists():
            shutil.copytree(site / name, packages / name, ignore=ignore)
        elif (site / f"{name}.py").exists():
            shutil.copy2(site / f"{name}.py", packages / f"{name}.py")
        else:
            for extension in site.glob(f"{name}.*.so"):
                shutil.copy2(extension, packages / extension.name)


def measure16(results: Results, invocations: int, progress: Callable[[str], None], rounds: int = 2) -> None:
    """The N=16 rows: throughput with 16 client threads, and the group's memory right after (PSS and RSS): tasks
    mode (P=1) against awslambdaric's 16 processes, this runtime forked against the same, and the FastAPI app in
    tasks mode against Mangum under awslambdaric's 16 processes."""
    python = _system_python()
    assert python is not None
    log_dir = Path(tempfile.mkdtemp(prefix="bench-lmi16-"))
    log_dir.chmod(0o755)
    code = _readable_code(log_dir / "code", python, web=True)
    for _ in range(rounds):
        for prefix, runtime, handler, env in _CONFIGURATIONS:
            emulator = _Rie(runtime, python, log_dir / f"{prefix}-{runtime}.log", code, handler, CONCURRENCY, env)
            event: dict[str, object] = _web_event() if prefix == "lmi16_web" else {}
            emulator.warm_event = event
            try:
                emulator.warm_up()
                started = time.perf_counter()
                with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
                    refused = sum(pool.map(emulator.invoke_until_served, [event] * invocations))
                throughput = invocations / (time.perf_counter() - started)
                pss, rss = emulator.group_pss_kb() / 1024, emulator.group_rss_kb() / 1024
            finally:
                emulator.close()
            # awslambdaric's 16 processes are the baseline of both of this runtime's modes.
            targets = ("lmi16", "lmi16_forked") if prefix == "lmi16" and runtime == "ric" else (prefix,)
            for target in targets:
                results.add(f"{target}_throughput", runtime, throughput)
                results.add(f"{target}_pss", runtime, pss)
                results.add(f"{target}_rss", runtime, rss)
            if refused:
                results.notes.append(f"{prefix} ({runtime}): {refused} Runtime.Unavailable answers retried")
            progress(f"  {prefix:13} {runtime:5} {throughput:6.0f}/s, group PSS {pss:6.1f} MiB, RSS {rss:6.1f} MiB")
    shutil.rmtree(log_dir, ignore_errors=True)
