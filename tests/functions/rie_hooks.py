"""A handler with after-response work, for tests/rie/test_rie.py.

Each invocation appends lines to the file named by RIE_HOOKS_FILE: `deferred <request id> <time>` from the work
the handler defers, then `hook <request id> <time>` from the `@after_response` hook. The hook first sleeps
`event["sleep"]` seconds (default 0), and writing its line is the very last thing it does. At shutdown (SIGTERM),
`shutdown - <time>` from the `@on_shutdown` hook.
"""

from __future__ import annotations

import os
import time
from typing import Any

from runtime import Invocation, after_response, defer, on_shutdown


def _append(kind: str, request_id: str) -> None:
    with open(os.environ["RIE_HOOKS_FILE"], "a", encoding="utf-8") as file:
        file.write(f"{kind} {request_id} {time.time()!r}\n")


def handler(event: Any, context: Any) -> Any:
    defer(_append, "deferred", context.aws_request_id)
    return {"request_id": context.aws_request_id}


@after_response
def record(invocation: Invocation) -> None:
    event = invocation.event if isinstance(invocation.event, dict) else {}
    time.sleep(float(event.get("sleep", 0)))
    _append("hook", invocation.request_id)


@on_shutdown
def closing() -> None:
    _append("shutdown", "-")
