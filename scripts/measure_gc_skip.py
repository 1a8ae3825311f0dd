"""RSS of a function that leaves cyclic garbage under RUNTIME_GC=after_response when no phase has time to collect.

Usage: .venv/bin/python scripts/measure_gc_skip.py [REPO]   (REPO: the checkout to measure, default this one)
Runs 2,000 invocations of tests/functions/attack.py's `make_cycles` (200 cycles of ~1 KB each) with a margin larger
than any deadline, so every phase skips its collection; prints RSS before and after, and how many cycles were freed.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

INVOCATIONS = 2000
CYCLES = 200


def rss_mb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) // 1024
    return 0


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent).resolve()
    sys.path.insert(0, str(root))
    os.chdir(root)
    from emulator.server import LambdaApiServer
    from tests.support import start_runtime

    env = {
        "RUNTIME_GC": "after_response",
        "RUNTIME_AFTER_RESPONSE_MARGIN_MS": "100000000",
        "RUNTIME_LOG_LEVEL": "ERROR",
    }
    event = json.dumps({"cycles": CYCLES}).encode()
    with LambdaApiServer() as api:
        process = start_runtime(api.address, "attack.make_cycles", env)
        try:
            api.invoke(event)
            before, started = rss_mb(process.pid), time.monotonic()
            freed = 0
            for _ in range(INVOCATIONS):
                freed = api.invoke(event).json()
            print(
                f"{root.name}: RSS {before} -> {rss_mb(process.pid)} MB over {INVOCATIONS:,} invocations "
                f"({INVOCATIONS * CYCLES:,} cycles of ~1 KB), {freed:,} freed, {time.monotonic() - started:.1f} s"
            )
        finally:
            process.stop()


if __name__ == "__main__":
    main()
