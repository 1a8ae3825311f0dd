"""The durable benchmark's workflow (AWS's durable execution SDK): a step, a 1 s wait, a step. Each execution is two
invocations: the first ends PENDING at the wait, the service invokes the function again 1 s later, and the second
replays the first step from its checkpoint and ends SUCCEEDED. `flush()` stands for a telemetry flush: 200 ms on the
network."""

from __future__ import annotations

import os
import time
from typing import Any

from aws_durable_execution_sdk_python import DurableContext, durable_execution
from aws_durable_execution_sdk_python.config import Duration

FLUSH_S = 0.2


@durable_execution
def workflow(event: dict[str, Any], context: DurableContext) -> int:
    first: int = context.step(lambda step: 1, name="first")
    context.wait(Duration.from_seconds(1), name="wait")
    second: int = context.step(lambda step: first + 1, name="second")
    return second


def flush() -> None:
    if os.environ.get("BENCH_FLUSH") == "on":
        time.sleep(FLUSH_S)
