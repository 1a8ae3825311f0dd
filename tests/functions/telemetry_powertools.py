"""Powertools Metrics through runtime.integrations.powertools: the EMF lines are written after the response.

Each EMF line written to stdout is also marked on the test Runtime API's clock, to compare with `/response`."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from marks import mark  # type: ignore[import-not-found]  # tests/functions is the task root

from runtime.integrations.powertools import log_metrics_after_response


class MarkEmf:
    """stdout, marking each EMF line (Powertools prints one JSON object with an `_aws` key per flush)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        if '"_aws"' in text:
            mark("emf")
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()


sys.stdout = MarkEmf(sys.stdout)
metrics = Metrics(namespace="Orders", service="orders")


@log_metrics_after_response(metrics, capture_cold_start_metric=True)
def handler(event: Any, context: Any) -> dict[str, bool]:
    metrics.add_metric(name="OrdersPlaced", unit=MetricUnit.Count, value=1)
    return {"ok": True}
