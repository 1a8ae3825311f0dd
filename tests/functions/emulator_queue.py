"""A function whose after-response hook holds the environment until the test lets it go: the next request queues
behind it (the emulator's `serve` must show that wait)."""

from __future__ import annotations

import os
import time
from typing import Any

from marks import mark  # type: ignore[import-not-found]  # tests/functions is the task root

from runtime import Invocation, after_response


def handler(event: dict[str, Any], context: Any) -> dict[str, bool]:
    return {"ok": True}


@after_response
def hold(invocation: Invocation) -> None:
    release = invocation.event.get("hold_until") if isinstance(invocation.event, dict) else None
    if not release:
        return
    mark("hold-start")
    deadline = time.monotonic() + 10  # bounded: the test creates the file as soon as the next request waits
    while not os.path.exists(release) and time.monotonic() < deadline:
        time.sleep(0.005)
    mark("hold-end")
