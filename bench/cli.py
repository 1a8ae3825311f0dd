"""`python -m bench [--quick] [--out DIR]`: run everything, write results.md, chart.svg and results.json."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from . import report
from .model import FULL, QUICK
from .runs import Bench
from .stub import BenchError

DEFAULT_OUT = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short run (under a minute): fewer rounds and calls")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory (default: bench/results)")
    parser.add_argument("--rounds", type=int, help="override the number of alternating rounds")
    parser.add_argument(
        "--pin",
        choices=("same", "split", "none"),
        default="same",
        help="CPU placement: stub and runtime on one CPU (default), on different CPUs, or left to the scheduler",
    )
    parser.add_argument(
        "--in-place",
        action="store_true",
        help="run runtime/ and bootstrap from the tree (default: from a copy taken at the start, on PYTHONPATH)",
    )
    parser.add_argument(
        "--ours-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for this runtime only, e.g. RUNTIME_GC=after_response (repeatable)",
    )
    parser.add_argument(
        "--python",
        help="the interpreter for every runtime, with awslambdaric (and boto3, fastapi, mangum for those rows) "
        "installed for it (default: .venv/bin/python)",
    )
    parser.add_argument(
        "--stub",
        type=Path,
        help="a stub already compiled from bench/stub.c, for where there is no gcc (default: compile it)",
    )
    args = parser.parse_args(argv)
    ours_env = dict(item.partition("=")[::2] for item in args.ours_env)
    plan = QUICK if args.quick else FULL
    if args.rounds is not None:
        plan = replace(plan, rounds=max(args.rounds, 1))
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()

    def progress(message: str) -> None:
        print(f"[{time.monotonic() - started:6.1f} s] {message}", file=sys.stderr, flush=True)

    try:
        bench = Bench(
            plan,
            out,
            progress,
            pin=args.pin,
            in_place=args.in_place,
            ours_env=ours_env,
            # Absolute, not resolved: the bootstrap's shebang names it, and a venv's interpreter is a symlink.
            python=os.path.abspath(args.python) if args.python else None,
            stub_binary=args.stub.resolve() if args.stub else None,
        )
    except (BenchError, subprocess.SubprocessError) as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    try:
        results = bench.run_all()
    except (BenchError, subprocess.SubprocessError) as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    finally:
        bench.close()
    text = report.markdown(results, bench.python)
    (out / "results.md").write_text(text)
    (out / "chart.svg").write_text(report.svg(results))
    (out / "results.json").write_text(results.to_json())
    print(text)
    print(f"written: {out / 'results.md'}, {out / 'chart.svg'}, {out / 'results.json'}", file=sys.stderr)
    return 0
