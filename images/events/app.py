"""Publish a domain event to Amazon EventBridge with boto3 AFTER the response.

The caller gets `{"status": "accepted", ...}` as soon as the handler returns; `defer()` sends the event
afterwards, in the same invocation (billed, within its timeout) but off the caller's critical path.
A failed send never fails the invocation (the response is already out): it is logged as a JSON line
with the event, for a replay or an alarm on the log.

Configuration (environment):
- EVENT_BUS_NAME: the destination bus (default: "default");
- EVENT_SOURCE: the events' Source field (default: "example.orders");
- AWS_ENDPOINT_URL_EVENTBRIDGE: boto3's own setting for another endpoint (a VPC endpoint, a local fake);
- the usual AWS credentials and AWS_REGION, which Lambda provides.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from runtime import defer

EVENT_BUS_NAME = os.environ.get("EVENT_BUS_NAME", "default")
EVENT_SOURCE = os.environ.get("EVENT_SOURCE", "example.orders")

# Created once per execution environment (cold start), reused by every invocation. Short timeouts and
# few retries: the send shares the invocation's time budget with the next invocation waiting for it.
events = boto3.client(
    "events",
    config=Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 2, "mode": "standard"}),
)


def log(level: str, message: str, **fields: Any) -> None:
    """One JSON line on stdout, which Lambda sends to CloudWatch Logs."""
    print(json.dumps({"level": level, "message": message, **fields}, default=str), file=sys.stdout, flush=True)


def handler(event: Any, context: Any) -> dict[str, Any]:
    order = event if isinstance(event, dict) else {}
    order_id = str(order.get("order_id") or uuid.uuid4())
    detail = {"order_id": order_id, "items": order.get("items", []), "request_id": context.aws_request_id}
    defer(publish, "OrderAccepted", detail)
    return {"status": "accepted", "order_id": order_id}


def publish(detail_type: str, detail: dict[str, Any]) -> None:
    """Runs after the response was posted. Never raises: the caller already has its answer."""
    entry = {
        "EventBusName": EVENT_BUS_NAME,
        "Source": EVENT_SOURCE,
        "DetailType": detail_type,
        "Detail": json.dumps(detail),
    }
    started = time.monotonic()
    try:
        result = events.put_events(Entries=[entry])
    except (BotoCoreError, ClientError) as exc:
        log("ERROR", "event not sent", error=f"{type(exc).__name__}: {exc}", entry=entry)
        return
    elapsed_ms = round((time.monotonic() - started) * 1000, 1)
    failed = [e for e in result.get("Entries", []) if e.get("ErrorCode")]
    if result.get("FailedEntryCount") or failed:
        log("ERROR", "event rejected", errors=failed, entry=entry, ms=elapsed_ms)
    else:
        log("INFO", "event sent", event_id=result["Entries"][0].get("EventId"), detail_type=detail_type, ms=elapsed_ms)
