"""Durable functions written with AWS's SDK, for tests/durable. Each invocation, hook and deferred call appends a
line to the file named by DURABLE_LOG: `kind label request-id status replayed`, so that the test can tell which
invocation of the execution each ran after."""

from __future__ import annotations

import os
from typing import Any

from aws_durable_execution_sdk_python import DurableContext, StepContext, durable_execution
from aws_durable_execution_sdk_python.config import Duration, StepConfig
from aws_durable_execution_sdk_python.retries import RetryStrategyConfig, create_retry_strategy

from runtime import Invocation, after_response, defer
from runtime.current import open_invocation


def log(kind: str, label: str, invocation: Invocation | None = None) -> None:
    lifetime = open_invocation()
    request_id = lifetime.request.request_id if lifetime is not None and lifetime.request is not None else "-"
    durable = invocation.durable if invocation is not None else None
    status = (durable.status or "RAISED") if durable is not None else "-"
    replayed = ("replayed" if durable.replayed else "first") if durable is not None else "-"
    with open(os.environ["DURABLE_LOG"], "a") as file:
        file.write(f"{kind} {label} {request_id} {status} {replayed}\n")


@after_response
def every_invocation(invocation: Invocation) -> None:
    log("hook", "always", invocation)


@after_response(when="ended")
def once_per_execution(invocation: Invocation) -> None:
    assert invocation.durable is not None
    log("hook", f"ended:input={invocation.durable.input.get('x')}", invocation)


@after_response(when="success")
def on_success(invocation: Invocation) -> None:
    log("hook", "success", invocation)


@after_response(when="error")
def on_error(invocation: Invocation) -> None:
    log("hook", "error", invocation)


def deferred(label: str) -> None:
    log("deferred", label)


def increment(step: StepContext, x: int) -> int:
    defer(deferred, "in-step")  # the step runs once: its deferred work runs after the invocation that ran it
    return x + 1


@durable_execution
def steps_and_wait(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
    """A step, a wait (the invocation ends PENDING), a step: two invocations, the second a replay."""
    defer(deferred, "body-start")  # replayed by the second invocation: run once, after the first
    a = context.step(lambda step: increment(step, event["x"]), name="increment")
    context.wait(Duration.from_seconds(1), name="pause")
    defer(deferred, "after-wait")  # new in the second invocation: run after it
    b = context.step(lambda step: a * 2, name="double")
    return {"a": a, "b": b}


@durable_execution
def failing_step(event: dict[str, Any], context: DurableContext) -> None:
    """A step that always fails, retried twice: the execution FAILED."""
    retry = create_retry_strategy(RetryStrategyConfig(max_attempts=2, initial_delay=Duration.from_seconds(1)))

    def fail(step: StepContext) -> None:
        raise ValueError(f"attempt {step.attempt} failed")

    context.step(fail, name="always-fails", config=StepConfig(retry_strategy=retry))


@durable_execution
def callback(event: dict[str, Any], context: DurableContext) -> Any:
    """Waits for an approval sent to its callback id."""
    approval = context.create_callback(name="approve")
    return {"approval": approval.result()}


@durable_execution
def fan_out(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
    """A map over the input's items and two parallel branches."""
    squares: Any = context.map(event["items"], lambda child, item, index, items: item * item, name="squares")
    branches = context.parallel([lambda child: "left", lambda child: "right"], name="both")
    return {"squares": squares.get_results(), "branches": branches.get_results()}


@durable_execution
def large_result(event: dict[str, Any], context: DurableContext) -> str:
    """A result over Lambda's 6 MB response limit: the SDK checkpoints it and returns an empty Result."""
    return "x" * (7 * 1024 * 1024)


@durable_execution
def operation_after_return(event: dict[str, Any], context: DurableContext) -> str:
    """Deferred work that calls a durable operation once the handler has returned."""

    def late() -> None:
        try:
            context.step(lambda step: "late", name="late")
        except Exception as exc:
            log("deferred", f"late-step-failed:{type(exc).__name__}")
            raise

    defer(late)
    return "done"
