"""Build the C stub (bench/stub.c) and run one runtime process under it: the measurements of one run."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

SOURCE = Path(__file__).resolve().parent / "stub.c"


class BenchError(Exception):
    """A run did not complete: the runtime crashed, timed out or answered with errors."""


def build(out_dir: Path) -> Path:
    """Compile the stub with `gcc -O2` into `out_dir` (a second or less)."""
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        raise BenchError("gcc is needed to build bench/stub.c")
    binary = out_dir / "stub"
    subprocess.run(
        [compiler, "-O2", "-Wall", "-Wextra", "-o", str(binary), str(SOURCE)],
        check=True,
        timeout=120,
    )
    return binary


@dataclass(frozen=True, slots=True)
class InvocationTimes:
    """The stub's CLOCK_MONOTONIC timestamps (ns) of one invocation."""

    next_ns: int  # the runtime's /next request fully read
    ready_ns: int  # Lambda's gate open: the runtime and every extension waiting
    write_ns: int  # the /next reply's write to the runtime starts (extensions' INVOKE events already written)
    dispatch_ns: int  # the /next reply fully written
    response_ns: int  # the /response (or /error) request fully read
    error: bool
    response_bytes: int = 0  # the length of the /response (or /error) body the runtime posted


@dataclass(slots=True)
class StubRun:
    """Everything the stub wrote for one run, and the numbers derived from it."""

    status: str = "error"
    detail: str = ""
    exec_ns: int = 0
    register_ns: int = 0
    extensions: int = 0
    extensions_invoke: int = 0  # of which subscribed to INVOKE
    invocations: list[InvocationTimes] = field(default_factory=list)
    final_next_ns: int = 0
    rss_kb: dict[int, tuple[int, int]] = field(default_factory=dict)  # after K results: (VmRSS, VmHWM)
    rss_end_kb: tuple[int, int] = (-1, -1)
    child_cpu_ns: tuple[int, int] = (-1, -1)
    stub_cpu_us: tuple[int, int] = (0, 0)

    def critical_us(self, skip: int) -> list[float]:
        """/next reply's write starts → /response read, per invocation after the first `skip`.

        From the start of the write, not its end: on loopback the write itself wakes the runtime, which may run
        on the stub's CPU, handle the invocation and post its response before write() returns to the stub.
        """
        return [(i.response_ns - i.write_ns) / 1e3 for i in self.invocations[skip:]]

    def turnaround_us(self, skip: int) -> list[float]:
        """/response read → Lambda's gate for the next invocation open (the runtime in /next and every
        INVOKE-subscribed extension in event/next): what Lambda waits for before it can dispatch again."""
        pairs = zip(self.invocations, self.invocations[1:], strict=False)
        return [(after.ready_ns - i.response_ns) / 1e3 for i, after in list(pairs)[skip:]]

    def write_us(self, skip: int) -> list[float]:
        """How long the stub's write() of the /next reply took (includes the runtime's run when it preempts)."""
        return [(i.dispatch_ns - i.write_ns) / 1e3 for i in self.invocations[skip:]]

    def gaps_us(self, skip: int) -> list[float]:
        """/response read → the runtime's next /next read, per invocation after the first `skip`."""
        nexts = [i.next_ns for i in self.invocations[1:]] + [self.final_next_ns]
        return [(n - i.response_ns) / 1e3 for i, n in list(zip(self.invocations, nexts, strict=True))[skip:]]

    def stub_latency_us(self, skip: int) -> list[float]:
        """The stub's own reaction time: gate open → the write of the /next reply starts."""
        return [(i.write_ns - i.ready_ns) / 1e3 for i in self.invocations[skip:]]

    def response_bytes(self, skip: int) -> list[int]:
        """The length of each /response body (what the runtime puts on the wire), after the first `skip`."""
        return [i.response_bytes for i in self.invocations[skip:]]

    def throughput(self, skip: int) -> float:
        """Invocations per second, back to back, from the `skip`-th /next to the /next after the last result."""
        if len(self.invocations) <= skip:
            return 0.0
        return (len(self.invocations) - skip) / ((self.final_next_ns - self.invocations[skip].next_ns) / 1e9)

    def cpu_us_per_invocation(self) -> float:
        """User + system CPU of the runtime process (all threads) per invocation, first dispatch → end."""
        first, end = self.child_cpu_ns
        if first < 0 or end < 0 or len(self.invocations) < 2:
            return 0.0
        return (end - first) / 1e3 / len(self.invocations)

    @property
    def first_next_ms(self) -> float:
        return (self.invocations[0].next_ns - self.exec_ns) / 1e6

    @property
    def init_done_ms(self) -> float:
        return (self.invocations[0].ready_ns - self.exec_ns) / 1e6

    @property
    def first_response_ms(self) -> float:
        return (self.invocations[0].response_ns - self.exec_ns) / 1e6


def parse(text: str) -> StubRun:
    run = StubRun()
    for line in text.splitlines():
        key, _, rest = line.partition(" ")
        values = rest.split()
        if key == "status":
            run.status = values[0] if values else "error"
            run.detail = rest[len(run.status) :].strip()
        elif key == "exec_ns":
            run.exec_ns = int(values[0])
        elif key == "register_ns":
            run.register_ns = int(values[0])
        elif key == "extensions":
            run.extensions = int(values[0])
            run.extensions_invoke = int(values[1]) if len(values) > 1 else run.extensions
        elif key == "inv":
            n = [int(v) for v in values]
            run.invocations.append(InvocationTimes(n[1], n[2], n[3], n[4], n[5], bool(n[6]), n[7] if len(n) > 7 else 0))
        elif key == "final_next_ns":
            run.final_next_ns = int(values[0])
        elif key == "rss":
            run.rss_kb[int(values[0])] = (int(values[1]), int(values[2]))
        elif key == "rss_end":
            run.rss_end_kb = (int(values[0]), int(values[1]))
        elif key == "child_cpu_ns":
            run.child_cpu_ns = (int(values[0]), int(values[1]))
        elif key == "stub_cpu_us":
            run.stub_cpu_us = (int(values[0]), int(values[1]))
    return run


def run(
    stub: Path,
    command: Sequence[str],
    *,
    invocations: int,
    env: Mapping[str, str],
    cwd: Path,
    work_dir: Path,
    name: str,
    event: Path | None = None,
    pause_us: int = 0,
    rss_at: Sequence[int] = (),
    cpus: tuple[str, str] | None = None,
    timeout_s: float = 120.0,
) -> StubRun:
    """Serve `invocations` invocations to `command` (started by the stub) and return the stub's measurements."""
    out = work_dir / f"{name}.out"
    log = work_dir / f"{name}.log"
    args = [str(stub), "-n", str(invocations), "--out", str(out), "--cwd", str(cwd)]
    args += ["--timeout-ms", str(int(timeout_s * 1000))]
    if event is not None:
        args += ["--event", str(event)]
    if pause_us:
        args += ["--pause-us", str(pause_us)]
    for k in rss_at:
        args += ["--rss-at", str(k)]
    if cpus is not None:
        args += ["--cpu-stub", cpus[0], "--cpu-child", cpus[1]]
    out.unlink(missing_ok=True)
    with open(log, "wb") as log_file:
        done = subprocess.run(
            [*args, "--", *command],
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            timeout=timeout_s + 30,
            check=False,
        )
    result = parse(out.read_text() if out.exists() else "")
    errors = sum(1 for i in result.invocations if i.error)
    if done.returncode != 0 or result.status != "ok" or errors:
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
        why = f"{errors} invocations answered /error" if errors else f"{result.status} {result.detail}"
        raise BenchError(f"{name}: {' '.join(command)}: {why} (stub exit {done.returncode})\n{tail}")
    return result


def clean_env(extra: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without anything Lambda-, runtime- or Python-specific, plus `extra`."""
    prefixes = ("AWS_", "_LAMBDA", "_X_AMZN", "RUNTIME_", "_HANDLER", "LAMBDA_", "PYTHON")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(extra)
    return env
