"""A function for the multi-concurrency tests: which worker served, work after the response, a shutdown hook."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from marks import mark  # type: ignore[import-not-found]  # tests/functions is the task root

from runtime import defer, on_shutdown

if os.environ.get("WORKERS_FAIL_INIT"):
    raise RuntimeError("this worker cannot start")


@on_shutdown
def goodbye() -> None:
    sys.stdout.write(f"shutdown hook ran in pid {os.getpid()}\n")


def after(ms: int, tag: str) -> None:
    mark(f"phase-start-{tag}")
    time.sleep(ms / 1000)
    mark(f"phase-end-{tag}")


def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    if event.get("sleep_ms"):
        time.sleep(event["sleep_ms"] / 1000)
    if event.get("defer_ms"):
        defer(after, event["defer_ms"], context.aws_request_id)
    return {"pid": os.getpid()}
