"""A function that logs, for the start-up tests (the telemetry fd): a root-logger record, a printed line, and with
`{"fail": true}` an unhandled error (the runtime's multi-line ERROR record)."""

from __future__ import annotations

import logging
from typing import Any


def handler(event: dict[str, Any], context: Any) -> str:
    logging.getLogger().warning("a record from the handler")
    print("a printed line")
    if event.get("fail"):
        raise ValueError("failed on purpose")
    return "logged"
