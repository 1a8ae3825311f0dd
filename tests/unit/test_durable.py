"""Durable functions in-process: `invocation.durable` read from the service's envelope and the SDK's result, and the
`when=` of hooks across the invocations of one execution. The SDK itself runs in tests/durable."""

from __future__ import annotations

import json
from typing import Any

import pytest

from runtime.durable import replaying
from runtime.hooks import Registry, Task
from runtime.invocation import Invocation, Request
from runtime.phase import due_hooks

ARN = "arn:aws:lambda:us-east-1:123456789012:function:orders:$LATEST/durable-execution/run-1/inv-1"


def envelope(*operations: dict[str, Any], payload: str | None = '{"order": 7}') -> dict[str, Any]:
    """The event the durable execution service sends: the execution's start, then the operations so far."""
    start: dict[str, Any] = {"Id": "inv-1", "Type": "EXECUTION", "Status": "STARTED"}
    if payload is not None:
        start["ExecutionDetails"] = {"InputPayload": payload}
    state = {"Operations": [start, *operations], "NextMarker": ""}
    return {"DurableExecutionArn": ARN, "CheckpointToken": "token-1", "InitialExecutionState": state}


STEP = {"Id": "op-1", "Type": "STEP", "Status": "SUCCEEDED"}


def invocation(event: Any, result: Any = None, error: BaseException | None = None) -> Invocation:
    return Invocation(Request("req-1", 2**40), event=event, result=result, error=error)


@pytest.mark.parametrize(
    ("result", "error", "status", "succeeded", "suspended", "ended"),
    [
        ({"Status": "SUCCEEDED", "Result": "42"}, None, "SUCCEEDED", True, False, True),
        ({"Status": "FAILED", "Error": {"ErrorType": "ValueError"}}, None, "FAILED", False, False, True),
        ({"Status": "PENDING"}, None, "PENDING", False, True, False),
        (None, RuntimeError("checkpoint throttled"), None, False, False, False),
        ({"Status": "SOMETHING"}, None, None, False, False, False),
    ],
    ids=["succeeded", "failed", "pending", "raised", "unknown-status"],
)
def test_the_status_decides_success_suspension_and_the_end(
    result: Any, error: BaseException | None, status: str | None, succeeded: bool, suspended: bool, ended: bool
) -> None:
    done = invocation(envelope(), result, error)
    assert done.durable is not None and done.durable.status == status
    assert (done.succeeded, done.suspended, done.ended) == (succeeded, suspended, ended)


def test_a_failed_executions_error_is_the_sdks() -> None:
    done = invocation(envelope(), {"Status": "FAILED", "Error": {"ErrorType": "ValueError", "ErrorMessage": "no"}})
    assert done.durable is not None and done.durable.error == {"ErrorType": "ValueError", "ErrorMessage": "no"}


def test_the_input_is_the_executions_not_the_envelope() -> None:
    assert invocation(envelope()).durable.input == {"order": 7}  # type: ignore[union-attr]
    assert invocation(envelope(payload="")).durable.input == {}  # type: ignore[union-attr]
    assert invocation(envelope(payload=None)).durable.input == {}  # type: ignore[union-attr]
    # Paged out of the event (the SDK fetches it from the service): not there to read.
    paged = envelope()
    paged["InitialExecutionState"]["Operations"] = []
    assert invocation(paged).durable.input is None  # type: ignore[union-attr]


def test_an_invocation_replays_when_the_event_holds_more_than_the_executions_start() -> None:
    assert invocation(envelope()).durable.replayed is False  # type: ignore[union-attr]
    assert invocation(envelope(STEP)).durable.replayed is True  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "event",
    [{"order": 7}, {"DurableExecutionArn": ARN}, "text", None, [ARN]],
    ids=["ordinary", "arn-without-token", "string", "null", "list"],
)
def test_an_ordinary_invocation_has_no_durable_part(event: Any) -> None:
    done = invocation(event, {"Status": "PENDING"})
    assert done.durable is None
    assert (done.succeeded, done.suspended, done.ended) == (True, False, True)


def test_hooks_run_by_when_across_the_invocations_of_an_execution() -> None:
    registry = Registry()
    for when in ("always", "success", "error", "ended"):
        registry.hooks.append(Task(lambda _: None, name=when, when=when, is_hook=True))
    executions = {
        "pending": invocation(envelope(), {"Status": "PENDING"}),
        "replayed, succeeded": invocation(envelope(STEP), {"Status": "SUCCEEDED", "Result": json.dumps(1)}),
        "replayed, failed": invocation(envelope(STEP), {"Status": "FAILED", "Error": {}}),
        "raised": invocation(envelope(STEP), error=RuntimeError("retry me")),
        "ordinary": invocation({"order": 7}, {"ok": True}),
    }
    due = {name: [task.name for task in due_hooks(registry.hooks, done)] for name, done in executions.items()}
    assert due == {
        "pending": ["always"],
        "replayed, succeeded": ["always", "success", "ended"],
        "replayed, failed": ["always", "error", "ended"],
        "raised": ["always", "error"],
        "ordinary": ["always", "success", "ended"],
    }


def test_code_outside_durable_code_is_not_replaying_even_with_the_sdk_imported() -> None:
    # The stack is walked for the SDK's context class: with the SDK imported, no frame here holds a context.
    import aws_durable_execution_sdk_python.context  # noqa: F401

    assert replaying() is False
