"""A function whose handler exits as a command-line tool does (argparse and click exit 2 on a usage error), for the
multi-concurrency tests under the project's emulator and under RIE's LMI mode (there it runs as uid 993 and writes
its marks as files in LMI_DIR, world-writable, instead of on the test Runtime API's clock).

`{"exit": N}` calls sys.exit(N); `{"hold": PATH}` marks `holding-<request id>` and returns once PATH exists (at most
10 s), so a test can keep an invocation in flight in one worker while another worker exits; `{"sleep_ms": N}` sleeps.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any


def _mark(name: str) -> None:
    if "LMI_DIR" in os.environ:
        (Path(os.environ["LMI_DIR"]) / name).touch()
        return
    from marks import mark  # type: ignore[import-not-found]  # tests/functions is the task root

    mark(name)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if "exit" in event:
        sys.exit(event["exit"])
    time.sleep(event.get("sleep_ms", 0) / 1000)
    if event.get("hold"):
        _mark(f"holding-{context.aws_request_id}")
        deadline = time.monotonic() + 10
        while not os.path.exists(event["hold"]) and time.monotonic() < deadline:  # the test creates it
            time.sleep(0.01)
    return {"pid": os.getpid(), "held": bool(event.get("hold"))}
