"""Functions that overrun: a hook past the deadline, a handler past the deadline, a slow init."""

from __future__ import annotations

import os
import time
from typing import Any

from runtime import Invocation, after_response

if os.environ.get("SLOW_INIT_S"):
    time.sleep(float(os.environ["SLOW_INIT_S"]))


def handler(event: dict[str, Any], context: Any) -> Any:
    time.sleep(event.get("handler_sleep", 0))
    return {"pid": os.getpid()}


@after_response
def slow_hook(invocation: Invocation) -> None:
    event = invocation.event if isinstance(invocation.event, dict) else {}
    time.sleep(event.get("hook_sleep", 0))
