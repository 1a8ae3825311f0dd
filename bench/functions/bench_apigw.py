"""A realistic handler: an API Gateway (HTTP API, v2) request in, one structured log line in the style of Powertools'
Logger, a JSON response of ~2 KB out. What the benchmark's "realistic" rows measure, on every runtime alike."""

from __future__ import annotations

import json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_ITEMS = [{"sku": f"SKU-{i:04d}", "name": f"Item {i} with a descriptive name", "qty": i % 5 + 1, "price": 9.99 + i}
          for i in range(18)]  # fmt: skip


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    order_id = event["pathParameters"]["id"]
    # Powertools' Logger writes one JSON object per record to stdout, with the request id and the fields given.
    request_id = getattr(context, "aws_request_id", None)  # the floor passes no context
    print(json.dumps({"level": "INFO", "location": "handler:21", "message": "order fetched", "service": "orders",
                      "order_id": order_id, "function_request_id": request_id}))  # fmt: skip
    body = {"id": order_id, "status": "shipped", "customer": event["requestContext"]["authorizer"], "items": _ITEMS}
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json", "cache-control": "no-store"},
        "body": json.dumps(body),
    }
