"""The results as a Markdown table (results.md) and a hand-drawn SVG bar chart of the ratios (chart.svg)."""

from __future__ import annotations

import datetime
import math
import os
import platform
import subprocess
from dataclasses import dataclass
from html import escape

from .model import Results
from .stats import median

TIMES = "\N{MULTIPLICATION SIGN}"


@dataclass(frozen=True, slots=True)
class Row:
    metric: str
    title: str
    unit: str
    decimals: int = 1
    #: PASS when ours/awslambdaric is at most this (or at least this, for higher_is_better)
    target: float | None = None
    higher_is_better: bool = False
    #: samples are multiplied by this for display (e.g. µs samples shown in ms)
    scale: float = 1.0
    #: drawn in chart.svg (ratios that mean something: not the proof-of-work or duplicate rows)
    chart: bool = True
    #: the ratio column makes sense (not for the proof that the deferred work ran)
    ratio: bool = True


def rows(results: Results) -> list[Row]:
    p = results.plan
    # Targets: the performance round's (ratio to awslambdaric, defaults, extension on; docs/design.md).
    return [
        Row("crit_p50_noop", "Critical path p50, no-op handler", "µs", target=0.6),
        Row("crit_p99_noop", "Critical path p99, no-op handler", "µs"),
        Row("crit_p50_big", "Critical path p50, 100 KB event", "µs", target=0.75),
        Row("crit_p99_big", "Critical path p99, 100 KB event", "µs"),
        Row("crit_p50_apigw", "Critical path p50, API Gateway handler (log line, 2 KB JSON body)", "µs"),
        Row("crit_p99_apigw", "Critical path p99, API Gateway handler", "µs"),
        Row("gap_p50_noop", "Gap between invocations p50, no hooks", "µs", target=1.0),
        Row("gap_p99_noop", "Gap between invocations p99, no hooks", "µs"),
        Row("turnaround_p50_noop", "Turnaround p50: /response → gate open (incl. extensions)", "µs", target=0.9),
        Row("turnaround_p99_noop", "Turnaround p99", "µs"),
        Row(
            "throughput_noop",
            f"Throughput, back to back ({p.loop_n:,} no-op)",
            "inv/s",
            0,
            target=1.3,
            higher_is_better=True,
        ),
        Row("cpu_noop", "CPU per invocation (runtime process, all threads)", "µs", target=0.7),
        Row("cold_next", "Cold start → first /next, trivial handler", "ms", 1, target=0.5),
        Row("cold_init", "Cold start → init done (runtime + extensions in next)", "ms", chart=False),
        Row("cold_response", "Cold start → first response, trivial handler", "ms"),
        Row("boto3_next", "Cold start → first /next, handler imports boto3 and builds a client", "ms", target=0.9),
        Row("boto3_response", "Cold start → first response, boto3 handler", "ms"),
        Row("crit_p50_web", "Critical path p50, FastAPI hello route (ours: bridge; ric: Mangum)", "µs", target=0.8),
        Row("crit_p99_web", "Critical path p99, FastAPI hello route", "µs"),
        Row("web_next", "Cold start → first /next, FastAPI app (ours: bridge; ric: Mangum)", "ms", target=0.9),
        Row("web_response", "Cold start → first response, FastAPI hello route", "ms"),
        Row("crit_p50_web_bg", "Time to response, FastAPI route with 200 ms of BackgroundTasks", "µs"),
        Row("crit_p50_web_paced", "Time to response, FastAPI hello route, calls 200 ms apart", "µs", chart=False),
        Row(
            "web_bg_done",
            "FastAPI BackgroundTasks run to completion (lines written after the 200 ms; per run, see the note)",
            f"of {p.paced_n}",
            0,
            chart=False,
            ratio=False,
        ),
        Row(
            "crit_p50_web_json_gz",
            "Time to response p50, FastAPI ~20 KB JSON, compressed (ours: compress=True; ric: Mangum + GZipMiddleware)",
            "µs",
        ),
        Row("bytes_web_json_gz", "Bytes on the wire: /response body, same compressed response", "bytes", 0),
        Row(
            "crit_p50_web_json",
            "Time to response p50, FastAPI ~20 KB JSON, uncompressed (reference)",
            "µs",
            chart=False,
        ),
        Row("bytes_web_json", "Bytes on the wire: /response body, uncompressed (reference)", "bytes", 0, chart=False),
        Row(
            "stream_first",
            "Streaming: time to first byte, 10 chunks 50 ms apart (ric: buffered, cannot stream)",
            "ms",
            1,
        ),
        Row("stream_last", "Streaming: time to last byte, same", "ms", 1, chart=False),
        Row(
            "stream_10mb",
            "Streaming: throughput of a 10 MB stream (ours only: buffered is limited to 6 MB)",
            "MiB/s",
            0,
            chart=False,
            ratio=False,
        ),
        Row(
            "lmi_throughput",
            "Multi-concurrency (4 workers, 5 ms handler): throughput",
            "inv/s",
            0,
            target=1.0,
            higher_is_better=True,
        ),
        Row("lmi_rss_hwm", "Multi-concurrency: peak RSS of the parent and all workers", "MiB", 1, target=0.8),
        Row("lmi_pss", "Multi-concurrency: PSS of the parent and all workers (shared pages counted once)", "MiB", 1),
        Row("lmi_work_response", "Multi-concurrency: time to response, 200 ms of after-response work", "µs"),
        Row(
            "lmi16_throughput",
            "N=16, 50 ms awaited: throughput, tasks mode (1 process) vs awslambdaric's 16",
            "inv/s",
            0,
            target=1.0,
            higher_is_better=True,
        ),
        Row("lmi16_pss", "N=16: PSS of the process group, tasks mode", "MiB", 1, target=0.2),
        Row("lmi16_rss", "N=16: RSS of the process group, tasks mode", "MiB", 1, target=0.2),
        Row(
            "lmi16_forked_throughput",
            "N=16: throughput, this runtime forked (16 processes)",
            "inv/s",
            0,
            higher_is_better=True,
            chart=False,
        ),
        Row("lmi16_forked_pss", "N=16: PSS of the process group, forked", "MiB", 1, target=0.6),
        Row("lmi16_forked_rss", "N=16: RSS of the process group, forked", "MiB", 1, chart=False),
        Row(
            "lmi16_web_throughput",
            "N=16, FastAPI route awaiting 50 ms: throughput, tasks mode vs Mangum",
            "inv/s",
            0,
            higher_is_better=True,
        ),
        Row("lmi16_web_pss", "N=16, FastAPI: PSS of the process group, tasks mode vs Mangum", "MiB", 1),
        Row("lmi16_web_rss", "N=16, FastAPI: RSS of the process group", "MiB", 1, chart=False),
        Row(
            "lmi_paced_response",
            "Multi-concurrency: time to response, no after-response work (same pace)",
            "µs",
            chart=False,
        ),
        Row("rss_hwm", f"Peak RSS (VmHWM) after {p.loop_n:,} invocations", "MiB", 2, target=0.7),
        Row("rss_early", f"RSS after {p.rss_early:,} invocations", "MiB", 2, chart=False),
        Row("rss_late", f"RSS after {p.loop_n:,} invocations", "MiB", 2, chart=False),
        Row("crit_p50_work", "Time to response, 200 ms of work (ours: deferred; ric: in handler)", "µs"),
        Row(
            "gap_p50_work",
            "Response → next /next with 200 ms of work (the work ran)",
            "ms",
            1,
            scale=1e-3,
            chart=False,
            ratio=False,
        ),
        Row("crit_p50_paced", "Time to response, no-op, invocations 200 ms apart", "µs", chart=False),
    ]


# RSS growth counted as noise: a few pages of allocator and interpreter caches.
GROWTH_NOISE_KB = 64
# "The 200 ms of work is hidden": ours with defer within this factor of ours with a no-op handler, same pacing.
HIDDEN_FACTOR = 1.25


def _fmt(value: float, decimals: int) -> str:
    if math.isnan(value):
        return "—"
    return f"{value:,.{decimals}f}"


def _times(ratio: float) -> str:
    return f"{ratio:.2f}{TIMES}" if ratio >= 0.01 else f"{ratio:.1g}{TIMES}"


def _ratio(ours: float, ric: float) -> float:
    if math.isnan(ours) or math.isnan(ric) or ric == 0:
        return math.nan
    return ours / ric


def _growth_line(title: str, growth: dict[str, float], allowed: float, target: str) -> Line:
    ours = growth["ours"]
    verdict = "" if math.isnan(ours) else ("PASS" if ours <= allowed else "FAIL")
    return Line(title, "kB", {rt: _fmt(v, 0) for rt, v in growth.items()}, math.nan, target, verdict)


def _verdict(ratio: float, target: float | None, higher_is_better: bool) -> str:
    if target is None or math.isnan(ratio):
        return ""
    ok = ratio >= target if higher_is_better else ratio <= target
    return "PASS" if ok else "FAIL"


@dataclass(frozen=True, slots=True)
class Line:
    title: str
    unit: str
    values: dict[str, str]
    ratio: float
    target: str
    verdict: str
    higher_is_better: bool = False
    target_value: float | None = None
    chart: bool = False


def lines(results: Results) -> list[Line]:
    out: list[Line] = []
    for row in rows(results):
        medians = {rt: median(results.get(row.metric, rt)) * row.scale for rt in ("ours", "ric", "floor", "cclient")}
        ratio = _ratio(medians["ours"], medians["ric"]) if row.ratio else math.nan
        target = "" if row.target is None else ("≥ " if row.higher_is_better else "≤ ") + f"{row.target:g}{TIMES}"
        out.append(
            Line(
                row.title,
                row.unit,
                {rt: _fmt(v, row.decimals) for rt, v in medians.items()},
                ratio,
                target,
                _verdict(ratio, row.target, row.higher_is_better),
                row.higher_is_better,
                row.target,
                row.chart,
            )
        )
    # Memory growth: absolute checks, not ratios. Over the whole window ours may grow as much as awslambdaric
    # (both fill interpreter caches and allocator pools early on) plus noise; over the second half, only noise.
    p = results.plan
    growth = {rt: median(results.get("rss_growth", rt)) for rt in ("ours", "ric", "floor", "cclient")}
    allowed = growth["ric"] + GROWTH_NOISE_KB
    out.append(
        _growth_line(f"RSS growth {p.rss_early:,} → {p.loop_n:,} invocations", growth, allowed,
                     f"≤ ric + {GROWTH_NOISE_KB} kB")
    )  # fmt: skip
    half = {rt: median(results.get("rss_growth_half", rt)) for rt in ("ours", "ric", "floor", "cclient")}
    out.append(
        _growth_line(f"RSS growth {p.loop_n // 2:,} → {p.loop_n:,} invocations (steady state)", half,
                     GROWTH_NOISE_KB, f"≤ {GROWTH_NOISE_KB} kB")
    )  # fmt: skip
    # The after-response work is hidden: ours with 200 ms of work after the response vs ours without it, both
    # 200 ms apart; for `defer()`, and for the web bridge's BackgroundTasks.
    out.append(
        _hidden_line(
            "200 ms deferred work hidden: ours (defer) / ours (no-op, same pacing)",
            results,
            "crit_p50_work",
            "crit_p50_paced",
        )
    )
    out.append(
        _hidden_line(
            "Multi-concurrency, 200 ms of after-response work hidden: ours (with) / ours (without, same pacing)",
            results,
            "lmi_work_response",
            "lmi_paced_response",
        )
    )
    out.append(
        _hidden_line(
            "200 ms of BackgroundTasks hidden: ours (background route) / ours (hello route, same pacing)",
            results,
            "crit_p50_web_bg",
            "crit_p50_web_paced",
        )
    )
    return out


def _hidden_line(title: str, results: Results, work: str, paced: str) -> Line:
    """ours with the work after the response / ours without it, at the same pace: `work` and `paced` metrics."""
    hidden = _ratio(median(results.get(work, "ours")), median(results.get(paced, "ours")))
    return Line(
        title,
        "ratio",
        {"ours": _fmt(hidden, 2), "ric": "", "floor": "", "cclient": ""},
        math.nan,
        f"≤ {HIDDEN_FACTOR:g}",
        "" if math.isnan(hidden) else ("PASS" if hidden <= HIDDEN_FACTOR else "FAIL"),
    )


def machine() -> dict[str, str]:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": str(os.cpu_count() or 0),
        "kernel": platform.release(),
    }


def _version(python: str, code: str) -> str:
    try:
        done = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return "?"
    return done.stdout.strip()


def markdown(results: Results, python: str) -> str:
    m = machine()
    py_version = _version(python, "import sys; print(sys.version.split()[0])")
    ric_version = _version(python, "import importlib.metadata as m; print(m.version('awslambdaric'))")
    ours_version = _version(python, "import runtime; print(runtime.__version__)")
    p = results.plan
    date = datetime.datetime.fromtimestamp(results.started, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    ours_ext, ours_invoke = results.extensions.get("ours", (0, 0))
    digest = results.code_hashes[0] if results.code_hashes else "?"
    out = [
        "# Benchmark: this runtime vs awslambdaric",
        "",
        f"- Date: {date}; run took {results.elapsed_s:.0f} s",
        f"- Machine: {m['cpu']}, {m['cores']} cores, Linux {m['kernel']}; load average at start / end: "
        + " / ".join(f"{load[0]:.2f}" for load in results.load)
        + f"; CPU placement: {results.pinned or 'left to the scheduler'}",
        f"- Python {py_version} (`{python}`) for every runtime; awslambdaric {ric_version}; "
        f"this runtime {ours_version}",
        f"- Plan: {p.rounds} round(s) alternating ours, awslambdaric, floor; per round {p.loop_n:,} no-op "
        f"invocations, {p.big_n:,} with a 100 KB event, {p.paced_n} with 200 ms of work; "
        f"cold starts: {p.cold_starts} (trivial), {p.boto3_starts} (boto3) and {p.boto3_starts} (FastAPI) per "
        "runtime, alternated. "
        f"Loop figures are medians over rounds of each run's percentile (first {p.skip} invocations left out); "
        f"cold starts are medians over starts.",
        f"- Code under test: {results.tree}; digest of runtime/ {digest}",
        *(
            [
                "- Note: runtime/ or bootstrap changed in the tree during the run"
                + (
                    " (not measured: the copy was)."
                    if "copy taken" in results.tree
                    else ": rounds measured different code!"
                )
            ]
            if len(set(results.code_hashes)) > 1
            else []
        ),
        f"- This runtime ran with its internal extension on: the stub saw {ours_ext} extension(s) registered, "
        f"{ours_invoke} subscribed to INVOKE.",
        *(f"- Note: {note}" for note in results.notes),
        *(
            [
                f"- Warning: load average {results.load[0][0]:.2f} at the start on {m['cores']} cores: other "
                "processes competed for the CPUs, expect noise."
            ]
            if results.load and results.load[0][0] > 0.5
            else []
        ),
        "- floor = `bench/floor.py`, a plain-Python socket loop (stdlib json, no context, no extension); C client = "
        "a C loop doing next → response with no JSON (`bench/stub.c`'s own client): the limit of what the stub and "
        "loopback allow. The API Gateway rows call the same handler on every runtime (the C client calls none).",
        "",
        "| Metric | Unit | this runtime | awslambdaric | floor | C client | ours / ric | Target | Result |",
        "|---|---|--:|--:|--:|--:|--:|---|---|",
    ]
    for line in lines(results):
        ratio = "" if math.isnan(line.ratio) else _times(line.ratio)
        v = line.values
        out.append(
            f"| {line.title} | {line.unit} | {v['ours']} | {v['ric']} | {v['floor']} | {v.get('cclient', '')} | "
            f"{ratio} | {line.target} | {line.verdict} |"
        )
    out += ["", *stub_cost(results), "", *definitions()]
    return "\n".join(out) + "\n"


def stub_cost(results: Results) -> list[str]:
    def med(metric: str, rt: str) -> str:
        return _fmt(median(results.get(metric, rt)), 1)

    rounds = results.get("crit_p50_noop", "cclient")
    spread = f" (rounds: {min(rounds):.1f} to {max(rounds):.1f})" if len(rounds) > 1 else ""

    return [
        "## The fake Runtime API's own cost",
        "",
        "`bench/stub.c`, compiled with `gcc -O2`: one thread, epoll, keep-alive HTTP/1.1 on 127.0.0.1, "
        "CLOCK_MONOTONIC timestamps kept in memory and written out after the run.",
        "",
        "| | C client (stub + loopback only) | this runtime run | awslambdaric run |",
        "|---|--:|--:|--:|",
        f"| Critical path p50 / p99, no-op (µs) | {med('crit_p50_noop', 'cclient')} / "
        f"{med('crit_p99_noop', 'cclient')}{spread} | | |",
        f"| Critical path p50, 100 KB event (µs) | {med('crit_p50_big', 'cclient')} | | |",
        f"| Gap p50 (µs) | {med('gap_p50_noop', 'cclient')} | | |",
        f"| Throughput (inv/s) | {_fmt(median(results.get('throughput_noop', 'cclient')), 0)} | | |",
        "| Stub reaction: gate open → write of the /next reply starts, p50 (µs) | "
        f"{med('stub_latency_p50', 'cclient')} | {med('stub_latency_p50', 'ours')} | "
        f"{med('stub_latency_p50', 'ric')} |",
        f"| Stub CPU per invocation, user + sys (µs) | {med('stub_cpu_us_per_inv', 'cclient')} | "
        f"{med('stub_cpu_us_per_inv', 'ours')} | {med('stub_cpu_us_per_inv', 'ric')} |",
        "",
        "The C client column is the floor of what can be measured: a C runtime doing next → response with no JSON. "
        "Every runtime's critical path and gap include that much stub + kernel time. The stub's reaction in the "
        "run of this runtime includes writing the INVOKE event to its extension, which happens before the "
        "critical path starts. A C client figure well above ~15 µs means the machine (or its host) was busy.",
    ]


def definitions() -> list[str]:
    return [
        "## Definitions",
        "",
        "- Critical path: the stub starts writing the `/next` reply → the stub has read the whole `/response`. "
        "From the start of the write rather than its end because, on loopback, write() wakes the runtime, which "
        "may run on the stub's CPU and post its response before write() returns to the stub (the end timestamp "
        "then reads ~1 µs). The write's own cost is in every runtime's figure (see the C client).",
        "- CPU placement: by default the stub and the runtime share one CPU, as a Lambda function of up to "
        "1,769 MB gets at most one vCPU's worth of time. Left to the scheduler on an idle VM, each hand-over "
        "may wake the other, halted, vCPU, which costs tens of µs and varies with the host (`--pin none`).",
        "- Gap: `/response` read → the runtime's next `GET /next` read.",
        "- Turnaround: `/response` read → Lambda's gate for the next invocation open: the runtime waits in `/next` "
        "and every INVOKE-subscribed extension in `event/next` (for awslambdaric and the floor, the same as the gap).",
        "- Cold start: the child's CLOCK_MONOTONIC right before `execve` (the stub forks and execs the runtime "
        "command itself) → the first `GET /next` read. Page cache and `.pyc` files warm (one untimed start first).",
        "- Init done: Lambda's gate for the first invocation (runtime in `/next`, every extension in `event/next`).",
        "- Memory: VmRSS / VmHWM from `/proc/PID/status`, read while the runtime waits in `/next`.",
        "- 200 ms of work: ours defers `time.sleep(0.2)` (`from runtime import defer`); awslambdaric sleeps in "
        "the handler. The paced no-op reference dispatches each invocation 200 ms after the runtime asked for it.",
    ]


def svg(results: Results) -> str:
    """Horizontal bars of ours / awslambdaric, with the parity line and each target."""
    chart = [line for line in lines(results) if line.chart and not math.isnan(line.ratio)]
    width, label_w, row_h, top = 960, 430, 26, 50
    x0, x1, max_ratio = label_w + 10, width - 110, 2.0
    height = top + row_h * len(chart) + 60

    def x(ratio: float) -> float:
        return x0 + (x1 - x0) * min(max(ratio, 0.0), max_ratio) / max_ratio

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        '<text x="10" y="22" font-size="15" font-weight="bold">'
        "This runtime / awslambdaric (lower is better unless marked)</text>",
    ]
    for tick in (0.0, 0.5, 1.0, 1.5, 2.0):
        tx = x(tick)
        stroke = "#444" if tick == 1.0 else "#ddd"
        parts.append(f'<line x1="{tx:.1f}" y1="{top - 8}" x2="{tx:.1f}" y2="{top + row_h * len(chart)}" '
                     f'stroke="{stroke}" stroke-width="1"/>')  # fmt: skip
        parts.append(f'<text x="{tx:.1f}" y="{top - 12}" text-anchor="middle" fill="#555">{tick:g}{TIMES}</text>')
    for i, line in enumerate(chart):
        y = top + i * row_h
        colour = {"PASS": "#2e9d4f", "FAIL": "#d2372c"}.get(line.verdict, "#6b8fbf")
        label = line.title + (" (higher is better)" if line.higher_is_better else "")
        parts.append(f'<text x="{label_w}" y="{y + 17}" text-anchor="end">{escape(label)}</text>')
        parts.append(
            f'<rect x="{x0}" y="{y + 5}" width="{x(line.ratio) - x0:.1f}" height="{row_h - 10}" fill="{colour}"/>'
        )
        shown = _times(line.ratio) + (" ▶" if line.ratio > max_ratio else "")
        suffix = f" {line.verdict}" if line.verdict else ""
        parts.append(f'<text x="{x(line.ratio) + 4:.1f}" y="{y + 17}">{escape(shown + suffix)}</text>')
        if line.target_value is not None:
            tx = x(line.target_value)
            parts.append(f'<line x1="{tx:.1f}" y1="{y + 2}" x2="{tx:.1f}" y2="{y + row_h - 2}" stroke="black" '
                         f'stroke-width="2" stroke-dasharray="3,2"/>')  # fmt: skip
    ly = top + row_h * len(chart) + 25
    parts += [
        f'<rect x="10" y="{ly - 10}" width="12" height="12" fill="#2e9d4f"/>',
        f'<text x="26" y="{ly}">meets target</text>',
        f'<rect x="120" y="{ly - 10}" width="12" height="12" fill="#d2372c"/>',
        f'<text x="136" y="{ly}">misses target</text>',
        f'<rect x="240" y="{ly - 10}" width="12" height="12" fill="#6b8fbf"/>',
        f'<text x="256" y="{ly}">no target</text>',
        f'<line x1="340" y1="{ly - 10}" x2="340" y2="{ly + 2}" stroke="black" stroke-width="2" '
        'stroke-dasharray="3,2"/>',
        f'<text x="346" y="{ly}">target; bars clipped at {max_ratio:g}{TIMES}</text>',
        "</svg>",
    ]
    return "\n".join(parts) + "\n"
