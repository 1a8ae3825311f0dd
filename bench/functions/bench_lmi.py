"""The multi-concurrency rows' handler: 5 ms of waiting (a database call), and with {"after_ms": N} N ms of work after
the response, deferred here, in the handler under awslambdaric (which has no after-response phase)."""

from __future__ import annotations

import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _work(ms: int) -> None:
    time.sleep(ms / 1000)


def handler(event: Any, context: Any) -> dict[str, bool]:
    time.sleep(0.005)
    after_ms = event.get("after_ms", 0) if isinstance(event, dict) else 0
    if after_ms:
        try:
            from runtime import defer
            from runtime.hooks import served_elsewhere
        except ImportError:
            _work(after_ms)
        else:
            if served_elsewhere():
                _work(after_ms)  # awslambdaric: the work delays the response
            else:
                defer(_work, after_ms)
    return {"ok": True}
