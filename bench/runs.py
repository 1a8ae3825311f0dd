"""What is run: the runtimes, the scenarios, and the rounds that alternate them."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from . import stub
from .model import FUNCTIONS, ROOT, Plan, Results, Runtime, api_gateway_event
from .stats import percentile

BOOTSTRAP = ROOT / "bootstrap"
FLOOR_SCRIPT = ROOT / "bench" / "floor.py"

#: 200 ms of work: deferred by ours, inside the handler for awslambdaric; the paced no-op run waits as long.
WORK_US = 200_000

FUNCTION_ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "bench",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
    "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/bench",
    "AWS_LAMBDA_LOG_STREAM_NAME": "2026/01/01/[$LATEST]0123456789abcdef",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def venv_python() -> Path:
    """The project's interpreter, for every runtime alike: .venv/bin/python, else the one running the bench."""
    candidate = ROOT / ".venv" / "bin" / "python"
    return candidate if candidate.exists() else Path(sys.executable)


def code_hash(root: Path = ROOT) -> str:
    """A digest of the code under test (runtime/; the snapshot's bootstrap is generated): tells whether it changed
    during the run."""
    digest = hashlib.sha256()
    for path in sorted((root / "runtime").rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def snapshot(dest: Path, python: str) -> None:
    """Copy runtime/ to `dest`, with the bootstrap the container image ships (see the Dockerfile): a Python script
    whose shebang names the interpreter, so no shell runs between the platform and the runtime. Edits to the tree
    during a run then do not mix into it."""
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(ROOT / "runtime", dest / "runtime", ignore=shutil.ignore_patterns("__pycache__"))
    bootstrap = dest / "bootstrap"
    bootstrap.write_text(image_bootstrap(python))
    bootstrap.chmod(0o755)


def image_bootstrap(python: str) -> str:
    """The Dockerfile's `bootstrap`, for `python` (the same three lines it writes)."""
    return f"#!{python} -u\nfrom runtime.main import bootstrap\nbootstrap()\n"


def tree_state() -> str:
    """`<commit>`, plus the uncommitted files of runtime/ and bootstrap if any (read-only git commands)."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=30
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "runtime", "bootstrap"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.split("\n")
    except (OSError, subprocess.SubprocessError):
        return "unknown (no git)"
    changed = [line[3:] for line in dirty if line.strip()]
    return f"commit {commit or '?'}" + (f", uncommitted changes in {', '.join(changed)}" if changed else "")


def make_events(directory: Path) -> dict[str, Path]:
    """The small event (the console's hello-world test event) and a ~100 KB JSON document."""
    small = directory / "event-small.json"
    small.write_text(json.dumps({"key1": "value1", "key2": "value2", "key3": "value3"}))
    records: list[dict[str, object]] = []
    size = 0
    for i in range(10_000):
        record: dict[str, object] = {
            "id": i,
            "sku": f"SKU-{i:06d}",
            "name": f"Item number {i} with a longer descriptive name",
            "price": round(i * 1.37 % 1000, 2),
            "tags": ["alpha", "beta", "gamma"][: 1 + i % 3],
            "active": i % 2 == 0,
            "dimensions": {"w": i % 17, "h": i % 23, "unit": "cm"},
        }
        size += len(json.dumps(record)) + 2
        records.append(record)
        if size >= 100 * 1024:
            break
    big = directory / "event-100k.json"
    big.write_text(json.dumps({"source": "bench", "records": records}))
    apigw = directory / "event-apigw.json"
    apigw.write_text(json.dumps(api_gateway_event()))
    events = {"small": small, "big": big, "apigw": apigw}
    for name, path in (("web", "/hello"), ("web_bg", "/background"), ("web_json", "/orders")):
        # The same request to the FastAPI app's routes (with `accept-encoding: gzip, deflate, br`, as browsers send).
        event = api_gateway_event()
        event["rawPath"] = path
        event["requestContext"]["http"]["path"] = path  # type: ignore[index]
        events[name] = directory / f"event-{name}.json"
        events[name].write_text(json.dumps(event))
    return events


class Bench:
    def __init__(
        self,
        plan: Plan,
        out_dir: Path,
        progress: Callable[[str], None],
        pin: str = "same",
        in_place: bool = False,
        ours_env: dict[str, str] | None = None,
        python: str | None = None,
        stub_binary: Path | None = None,
    ) -> None:
        self.plan = plan
        # Settings for this runtime only (e.g. RUNTIME_GC=after_response), to measure what they cost or save.
        self.ours_env = dict(ours_env or {})
        self.work = out_dir / "runs"
        self.work.mkdir(parents=True, exist_ok=True)
        self.progress = progress
        # A stub built beforehand serves where there is no compiler (a Debian sid root with only Python in it).
        self.stub = stub_binary or stub.build(out_dir)
        self.events = make_events(self.work)
        python = python or str(venv_python())
        self.python = python
        # By default the code under test is a copy taken now: other people may be editing the tree. Its directory
        # goes on PYTHONPATH for every runtime alike (awslambdaric and the floor never import from it).
        self.code_root = ROOT
        self.python_path: dict[str, str] = {}
        if not in_place:
            # Outside the tree, so that type checkers and linters of bench/ never see the copy.
            self.code_root = Path(tempfile.mkdtemp(prefix="bench-snapshot-"))
            snapshot(self.code_root, self.python)
            self.python_path = {"PYTHONPATH": str(self.code_root)}
        self.ours = Runtime("ours", "this runtime (the image's bootstrap)", (str(self.code_root / "bootstrap"),))
        self.ric = Runtime("ric", "awslambdaric", (python, "-m", "awslambdaric"))
        self.floor = Runtime("floor", "floor (plain-Python socket loop)", (python, str(FLOOR_SCRIPT)))
        self.cclient = Runtime("cclient", "C client (stub + loopback)", (str(self.stub), "--client"))
        self.results = Results(plan=plan)
        if self.ours_env:
            settings = ", ".join(f"{name}={value}" for name, value in self.ours_env.items())
            self.results.notes.append(f"this runtime ran with {settings}")
        self.web: dict[Runtime, str] = {}
        self.web_compress: dict[Runtime, str] = {}
        self.cpus: tuple[str, str] | None = None
        available = sorted(os.sched_getaffinity(0))
        if pin == "same":
            # Stub and runtime on one CPU: no cross-CPU wake-ups, whose cost in a VM depends on whether the other
            # vCPU happens to be halted (tens of µs) and would swamp the runtimes' own differences.
            self.cpus = (str(available[-1]), str(available[-1]))
            self.results.pinned = f"stub and runtime on CPU {available[-1]}"
        elif pin == "split" and len(available) >= 2:
            self.cpus = (str(available[0]), ",".join(str(c) for c in available[1:]))
            self.results.pinned = f"stub on CPU {self.cpus[0]}, runtime on CPU {self.cpus[1]}"
        for rt in (self.ours, self.ric, self.floor, self.cclient):
            self.results.runtimes[rt.key] = rt

    def close(self) -> None:
        """Remove the copy of the code under test."""
        if self.code_root != ROOT:
            shutil.rmtree(self.code_root, ignore_errors=True)

    def _run(
        self,
        rt: Runtime,
        handler: str,
        n: int,
        name: str,
        event: str = "small",
        pause_us: int = 0,
        rss_at: tuple[int, ...] = (),
        extra_env: dict[str, str] | None = None,
    ) -> stub.StubRun:
        env = stub.clean_env(
            {
                **FUNCTION_ENV,
                **self.python_path,
                "LAMBDA_TASK_ROOT": str(FUNCTIONS),
                "RUNTIME_PYTHON": self.python,
                "_HANDLER": handler,
                **(self.ours_env if rt.key == "ours" else {}),
                **(extra_env or {}),
            }
        )
        timeout = 60 + n * (0.01 + pause_us / 1e6)
        return stub.run(
            self.stub,
            rt.command(handler),
            invocations=n,
            env=env,
            cwd=FUNCTIONS,
            work_dir=self.work,
            name=f"{name}-{rt.key}",
            event=self.events[event],
            pause_us=pause_us,
            rss_at=rss_at,
            cpus=self.cpus,
            timeout_s=timeout,
        )

    def _importable(self, module: str) -> bool:
        done = subprocess.run([self.python, "-c", f"import {module}"], capture_output=True, timeout=60, check=False)
        return done.returncode == 0

    def run_all(self) -> Results:
        self.results.started = time.time()
        self.results.load.append(os.getloadavg())
        self.results.tree = tree_state() + (
            "; measured a copy of runtime/ and bootstrap taken at the start" if self.code_root != ROOT else ""
        )
        self.results.code_hashes.append(code_hash(self.code_root))
        t0 = time.monotonic()
        self.web = self._web_handlers()
        if self.web:
            # The same app with compression on: the bridge's `compress=True`; Starlette's GZipMiddleware for Mangum.
            self.web_compress = {
                self.ours: "bench_web_asgi_compress.handler",
                self.ric: "bench_web_mangum_gzip.handler",
            }
            coding = "brotli (quality 5)" if self._importable("brotli") else "gzip (level 6; brotli is not installed)"
            self.results.notes.append(
                f"FastAPI ~20 KB JSON compressed: ours with {coding}, awslambdaric (Mangum + Starlette's "
                "GZipMiddleware) with gzip level 9; bytes on the wire: the body of the runtime's POST to /response "
                "(the API Gateway response, its body base64-encoded when compressed)."
            )
        cases = self._cold_cases()
        for label, handlers, _ in cases:  # one untimed start each: .pyc files written, page cache warm
            for rt, handler in handlers.items():
                self._run(rt, handler, 1, f"{label}-warmup", event="web" if label == "web" else "small")
        for r in range(self.plan.rounds):
            self.progress(f"round {r + 1}/{self.plan.rounds}")
            # Cold starts are spread over the rounds too, so a burst of load elsewhere cannot skew all of them.
            for label, handlers, starts in cases:
                share = starts // self.plan.rounds + (1 if r < starts % self.plan.rounds else 0)
                self.cold_starts(label, handlers, share)
            self.loop_round()
        self._background_note()
        # Each of these needs more of the machine (root, RIE's LMI mode, the emulator): one that fails becomes a note
        # in the results, not the end of a run whose other rows took minutes.
        for name, scenario in (("multi-concurrency", self._multi_concurrency), ("streaming", self._streaming)):
            try:
                scenario()
            except Exception as exc:
                self.results.notes.append(f"no {name} rows: the scenario failed: {type(exc).__name__}: {exc}")
                self.progress(f"  {name} failed: {type(exc).__name__}: {exc}")
        self.results.elapsed_s = time.monotonic() - t0
        self.results.load.append(os.getloadavg())
        self.results.code_hashes.append(code_hash())
        return self.results

    def loop_round(self) -> None:
        p, res, skip = self.plan, self.results, self.plan.skip
        loop_runtimes = (self.ours, self.ric, self.floor, self.cclient)
        for rt in loop_runtimes:
            mid = p.loop_n // 2
            run = self._run(rt, "bench_noop.handler", p.loop_n, "noop", rss_at=(p.rss_early, mid, p.loop_n))
            res.extensions[rt.key] = (run.extensions, run.extensions_invoke)
            critical, gaps = run.critical_us(skip), run.gaps_us(skip)
            res.add("crit_p50_noop", rt.key, percentile(critical, 50))
            res.add("crit_p99_noop", rt.key, percentile(critical, 99))
            res.add("gap_p50_noop", rt.key, percentile(gaps, 50))
            res.add("gap_p99_noop", rt.key, percentile(gaps, 99))
            turnaround = run.turnaround_us(skip)
            res.add("turnaround_p50_noop", rt.key, percentile(turnaround, 50))
            res.add("turnaround_p99_noop", rt.key, percentile(turnaround, 99))
            res.add("throughput_noop", rt.key, run.throughput(skip))
            res.add("cpu_noop", rt.key, run.cpu_us_per_invocation())
            res.add("stub_latency_p50", rt.key, percentile(run.stub_latency_us(skip), 50))
            res.add("stub_cpu_us_per_inv", rt.key, sum(run.stub_cpu_us) / p.loop_n)
            early, half, late = (run.rss_kb.get(k) for k in (p.rss_early, mid, p.loop_n))
            if early and half and late:
                res.add("rss_early", rt.key, early[0] / 1024)
                res.add("rss_late", rt.key, late[0] / 1024)
                res.add("rss_growth", rt.key, late[0] - early[0])
                res.add("rss_growth_half", rt.key, late[0] - half[0])
            res.add("rss_hwm", rt.key, run.rss_end_kb[1] / 1024)
            self.progress(
                f"  no-op x{p.loop_n:<6} {rt.key:8} critical p50 {percentile(critical, 50):7.1f} us, "
                f"gap p50 {percentile(gaps, 50):7.1f} us, turnaround p50 {percentile(turnaround, 50):7.1f} us, "
                f"{run.throughput(skip):7.0f}/s"
            )
        for rt in loop_runtimes:
            if rt is self.cclient:
                continue  # the C client has no handler to call: its figure would be the no-op row's
            run = self._run(rt, "bench_apigw.handler", p.big_n, "apigw", event="apigw")
            critical = run.critical_us(skip)
            res.add("crit_p50_apigw", rt.key, percentile(critical, 50))
            res.add("crit_p99_apigw", rt.key, percentile(critical, 99))
            self.progress(f"  API GW x{p.big_n:<6} {rt.key:8} critical p50 {percentile(critical, 50):7.1f} us")
        for rt in loop_runtimes:
            run = self._run(rt, "bench_noop.handler", p.big_n, "big", event="big")
            critical, gaps = run.critical_us(skip), run.gaps_us(skip)
            res.add("crit_p50_big", rt.key, percentile(critical, 50))
            res.add("crit_p99_big", rt.key, percentile(critical, 99))
            res.add("gap_p50_big", rt.key, percentile(gaps, 50))
            self.progress(f"  100 KB x{p.big_n:<6} {rt.key:8} critical p50 {percentile(critical, 50):7.1f} us")
        for rt, handler in self.web.items():
            run = self._run(rt, handler, p.big_n, "web", event="web")
            critical = run.critical_us(skip)
            res.add("crit_p50_web", rt.key, percentile(critical, 50))
            res.add("crit_p99_web", rt.key, percentile(critical, 99))
            self.progress(f"  FastAPI x{p.big_n:<5} {rt.key:8} critical p50 {percentile(critical, 50):7.1f} us")
        # The ~20 KB JSON route, compressed (ours: compress=True; ric: GZipMiddleware), then as it is, for reference.
        for label, handlers, suffix in (("compressed", self.web_compress, "_gz"), ("uncompressed", self.web, "")):
            for rt, handler in handlers.items():
                run = self._run(rt, handler, p.big_n, f"web-json{suffix}", event="web_json")
                critical, sizes = run.critical_us(skip), run.response_bytes(skip)
                res.add(f"crit_p50_web_json{suffix}", rt.key, percentile(critical, 50))
                res.add(f"bytes_web_json{suffix}", rt.key, percentile(sizes, 50))
                self.progress(
                    f"  FastAPI 20 KB JSON {label:12} x{p.big_n:<5} {rt.key:8} critical p50 "
                    f"{percentile(critical, 50):7.1f} us, /response body {min(sizes)}-{max(sizes)} bytes"
                )
        # The route with 200 ms of BackgroundTasks, and the hello route at the same pace (one call every 200 ms).
        for rt, handler in self.web.items():
            paced = self._run(rt, handler, p.paced_n, "web-paced", event="web", pause_us=WORK_US)
            res.add("crit_p50_web_paced", rt.key, percentile(paced.critical_us(1), 50))
            # Each task appends a line after its 200 ms. Counted once the stub has returned: it ends a run at the
            # runtime's /next after the last result and then kills the runtime, so a task still running then (ours
            # runs them in the after-response phase, before that /next) is not counted.
            done_file = self.work / f"web-bg-{rt.key}.done"
            done_file.unlink(missing_ok=True)
            work = self._run(
                rt, handler, p.paced_n, "web-bg", event="web_bg", extra_env={"BENCH_BG_DONE_FILE": str(done_file)}
            )
            done = len(done_file.read_text().splitlines()) if done_file.exists() else 0
            res.add("crit_p50_web_bg", rt.key, percentile(work.critical_us(1), 50))
            res.add("web_bg_done", rt.key, done)
            self.progress(
                f"  FastAPI 200 ms BackgroundTasks x{p.paced_n:<4} {rt.key:8} response after "
                f"{percentile(work.critical_us(1), 50):9.1f} us (hello route, same pace: "
                f"{percentile(paced.critical_us(1), 50):.1f} us), tasks completed {done} of {p.paced_n}"
            )
        # 200 ms of work per invocation; the no-op reference waits 200 ms before each dispatch, so both runs see
        # the same idle machine between invocations (cold caches, CPU wake-up).
        for rt, handler in ((self.ours, "bench_defer.handler"), (self.ric, "bench_inline.handler")):
            paced = self._run(rt, "bench_noop.handler", p.paced_n, "paced", pause_us=WORK_US)
            res.add("crit_p50_paced", rt.key, percentile(paced.critical_us(1), 50))
            work = self._run(rt, handler, p.paced_n, "work")
            res.add("crit_p50_work", rt.key, percentile(work.critical_us(1), 50))
            res.add("gap_p50_work", rt.key, percentile(work.gaps_us(1), 50))
            self.progress(
                f"  200 ms  x{p.paced_n:<6} {rt.key:8} response after {percentile(work.critical_us(1), 50):9.1f} us "
                f"(paced no-op {percentile(paced.critical_us(1), 50):.1f} us), "
                f"next /next after {percentile(work.gaps_us(1), 50) / 1000:.1f} ms"
            )

    def _background_note(self) -> None:
        """The proof the BackgroundTasks ran to completion: the tasks' lines, over all rounds, per runtime."""
        if not self.web:
            return
        expected = self.plan.paced_n * self.plan.rounds
        counts = ", ".join(f"{rt.key} {sum(self.results.get('web_bg_done', rt.key)):.0f}" for rt in self.web)
        self.results.notes.append(
            f"FastAPI BackgroundTasks completed (the task appends a line to a file after its 200 ms; lines counted "
            f"once the stub has seen the runtime's /next after the last result and killed it), of {expected}: "
            f"{counts}."
        )

    def _streaming(self) -> None:
        """The streaming rows, once (bench/streams.py): against the project's emulator."""
        from . import streams

        self.progress("streaming (the project's emulator)")
        env = {**FUNCTION_ENV, **self.python_path, "LAMBDA_TASK_ROOT": str(FUNCTIONS), "RUNTIME_PYTHON": self.python}
        streams.measure(self.results, {"ours": self.ours, "ric": self.ric}, env, self.plan.paced_n + 1, self.progress)

    def _multi_concurrency(self) -> None:
        """The multi-concurrency rows, once (bench/lmi.py): under RIE's LMI mode, which needs root."""
        from . import lmi

        reason = lmi.unavailable()
        if reason:
            self.results.notes.append(f"no multi-concurrency rows: {reason}")
            return
        self.progress("multi-concurrency (RIE's LMI mode, 4 workers)")
        lmi.measure(self.results, self.plan.big_n, self.plan.paced_n, self.progress, rounds=min(self.plan.rounds, 3))
        self.progress(f"multi-concurrency at N={lmi.CONCURRENCY}: tasks mode, forked, FastAPI (RIE's LMI mode)")
        lmi.measure16(self.results, self.plan.lmi16_n, self.progress, rounds=min(self.plan.rounds, 2))

    def _web_handlers(self) -> dict[Runtime, str]:
        """The FastAPI app per runtime: through the bridge here, through Mangum under awslambdaric."""
        if not (self._importable("fastapi") and self._importable("mangum")):
            self.results.notes.append(f"fastapi or mangum is not installed for {self.python}: no web rows.")
            return {}
        return {self.ours: "bench_web_asgi.handler", self.ric: "bench_web_mangum.handler"}

    def _cold_cases(self) -> list[tuple[str, dict[Runtime, str], int]]:
        everyone = (self.ours, self.ric, self.floor)
        cases = [("cold", dict.fromkeys(everyone, "bench_noop.handler"), self.plan.cold_starts)]
        if self._importable("boto3"):
            cases.append(("boto3", dict.fromkeys(everyone, "bench_boto3.handler"), self.plan.boto3_starts))
        else:
            self.results.notes.append(
                f"boto3 is not installed for {self.python}: no boto3 cold start (pip install boto3)."
            )
        if self.web:
            cases.append(("web", self.web, self.plan.boto3_starts))
        return cases

    def cold_starts(self, label: str, handlers: dict[Runtime, str], starts: int) -> None:
        """`starts` starts of each runtime, alternated: exec → first /next, → init done, → first response."""
        res = self.results
        cold_runtimes = tuple(handlers)
        event = "web" if label == "web" else "small"
        for _ in range(starts):
            for rt, handler in handlers.items():
                run = self._run(rt, handler, 1, label, event=event)
                res.add(f"{label}_next", rt.key, run.first_next_ms)
                res.add(f"{label}_init", rt.key, run.init_done_ms)
                res.add(f"{label}_response", rt.key, run.first_response_ms)
        summary = ", ".join(
            f"{rt.key} {percentile(res.get(f'{label}_next', rt.key), 50):.1f} ms" for rt in cold_runtimes
        )
        self.progress(f"  cold start ({label}) so far, exec -> first /next median: {summary}")
