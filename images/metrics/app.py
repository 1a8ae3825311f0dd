"""CloudWatch metrics with AWS Lambda Powertools, flushed AFTER the response.

Powertools' usual `@metrics.log_metrics` decorator serialises and prints the EMF blob when the handler
returns, i.e. before the caller gets its response. Here the handler only records metrics; an
`@after_response` hook flushes them once the response has been posted, so the caller never waits for it.
CloudWatch reads EMF from the function's log output either way.
"""

from __future__ import annotations

import os
import time
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from runtime import Invocation, after_response

# POWERTOOLS_METRICS_NAMESPACE / POWERTOOLS_SERVICE_NAME override these, as usual with Powertools.
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "AfterResponseExample"))
logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "orders"))


def handler(event: Any, context: Any) -> dict[str, Any]:
    started = time.perf_counter()
    items = event.get("items", []) if isinstance(event, dict) else []
    logger.append_keys(request_id=context.aws_request_id)
    logger.info("order received", extra={"items": len(items)})

    metrics.add_metric(name="OrdersPlaced", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="ItemsOrdered", unit=MetricUnit.Count, value=len(items))
    metrics.add_metric(name="HandlerTime", unit=MetricUnit.Milliseconds, value=(time.perf_counter() - started) * 1000)
    return {"status": "accepted", "items": len(items)}


@after_response
def flush_metrics(invocation: Invocation) -> None:
    """Runs after every invocation, after its response was posted: print the EMF blob, reset the metric set."""
    if not invocation.succeeded:
        metrics.add_metric(name="OrdersFailed", unit=MetricUnit.Count, value=1)
    metrics.flush_metrics()
    logger.info("metrics flushed after the response")
