"""A FastAPI app behind API Gateway or a Function URL, whose background task runs AFTER the response.

`POST /orders` answers `201 {"status": "accepted", ...}` at once; FastAPI's `BackgroundTasks` then sends an audit
record to a webhook. Under Mangum the caller would wait for that call too; through this runtime's bridge the
response is posted first and the task runs in the after-response phase of the same invocation (billed, within the
function's timeout, and logged if it fails).

Configuration (environment):
- AUDIT_URL: where the audit record is POSTed as JSON (unset: it is only logged).
"""

from __future__ import annotations

import json
import logging
import os
import urllib.request
import uuid
from typing import Any

from fastapi import BackgroundTasks, FastAPI, Request

from runtime.web import ASGIHandler

AUDIT_URL = os.environ.get("AUDIT_URL")
log = logging.getLogger("orders")
log.setLevel(logging.INFO)

app = FastAPI()


def send_audit(record: dict[str, Any]) -> None:
    """A plain function: Starlette runs it in a worker thread, after the response here."""
    if AUDIT_URL:
        request = urllib.request.Request(
            AUDIT_URL, data=json.dumps(record).encode(), headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=5) as reply:
            reply.read()
    log.info("audit sent: %s", json.dumps(record))


@app.post("/orders", status_code=201)
async def create_order(order: dict[str, Any], request: Request, tasks: BackgroundTasks) -> dict[str, Any]:
    order_id = f"o-{uuid.uuid4().hex[:8]}"
    context = request.scope["aws.context"]  # the Lambda context, as under Mangum
    tasks.add_task(
        send_audit, {"order_id": order_id, "items": order.get("items", []), "request_id": context.aws_request_id}
    )
    return {"status": "accepted", "order_id": order_id}


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


handler = ASGIHandler(app)
