"""A durable order workflow (AWS's durable execution SDK) on the after-response runtime.

The service invokes the function again after each wait, replaying the handler from the top (README "Durable
functions"). The after-response phase runs once the service has the invocation's result: here the metrics of the
execution are sent once, when it ends, and not again on every replay.
"""

from __future__ import annotations

import logging
from typing import Any

from aws_durable_execution_sdk_python import DurableContext, StepContext, durable_execution
from aws_durable_execution_sdk_python.config import Duration

from runtime import Invocation, after_response, defer

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)


def reserve_stock(step: StepContext, order: dict[str, Any]) -> str:
    # A step runs once per execution: its result is checkpointed and answered from the checkpoint on replays.
    defer(logger.info, "stock reserved for %s", order["id"])  # after the invocation that ran the step
    return f"reservation-{order['id']}"


def charge(step: StepContext, order: dict[str, Any], reservation: str) -> dict[str, Any]:
    return {"order": order["id"], "reservation": reservation, "charged": order["amount"]}


@durable_execution
def handler(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
    reservation: str = context.step(lambda step: reserve_stock(step, event), name="reserve")
    context.wait(Duration.from_seconds(10), name="cooling-off")  # the invocation ends PENDING here
    receipt: dict[str, Any] = context.step(lambda step: charge(step, event, reservation), name="charge")
    return receipt


@after_response(when="ended")
def send_execution_metrics(invocation: Invocation) -> None:
    """Once per execution, after its last invocation: SUCCEEDED or FAILED, never a suspended one."""
    durable = invocation.durable
    if durable is not None:
        logger.info("execution %s ended %s (order %s)", durable.execution_arn, durable.status, durable.input.get("id"))
