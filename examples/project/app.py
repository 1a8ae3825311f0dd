"""An order API on the after-response runtime: the caller gets its answer at once; the event to the audit service
and the metrics go out after the response, before Lambda freezes the environment."""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from typing import Any

from runtime import Invocation, after_response, defer

logger = logging.getLogger()
logger.setLevel(logging.INFO)

# Where order events go; empty: logged only (the local run and the tests).
AUDIT_URL = os.environ.get("AUDIT_URL", "")
_accepted = 0


def send_order_event(order_id: str) -> None:
    """A call to a slow partner: after the response it costs the caller nothing."""
    if AUDIT_URL:
        request = urllib.request.Request(AUDIT_URL, data=json.dumps({"order": order_id}).encode(), method="POST")
        with urllib.request.urlopen(request, timeout=2):
            pass
    logger.info("order event sent for %s", order_id)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global _accepted
    order_id = str(event.get("order_id", "unknown"))
    _accepted += 1
    defer(send_order_event, order_id)
    return {"status": "accepted", "order_id": order_id}


@after_response
def flush_metrics(invocation: Invocation) -> None:
    """After every invocation: one metrics line (a real app would flush its metrics client here)."""
    logger.info("metrics: %d accepted, last ok=%s", _accepted, invocation.succeeded)
