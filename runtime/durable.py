"""Lambda durable functions (AWS's `aws-durable-execution-sdk-python`): what an invocation of a durable execution is
to the after-response phase. The SDK needs nothing of a runtime; this module only reads what passes through it.

A durable execution is run by invoking the function again and again: each invocation replays the handler from the
top, its completed operations answered from checkpoints, and ends `PENDING` at a wait or a callback, until one ends
`SUCCEEDED` or `FAILED`. The event is the service's envelope (`DurableExecutionArn`, `CheckpointToken`,
`InitialExecutionState`), the result the SDK's (`{"Status": ...}`): docs/platform.md §7 has the facts and sources.

Two rules follow (README "Durable functions"):
- `defer()` called while the durable code is replaying (the SDK's `context.is_replaying()`: it re-runs what an
  earlier invocation ran, and that invocation ran the deferred work) is not run again, as the SDK's `context.logger`
  drops log lines while replaying.
- A durable operation (`context.step`, `context.wait`, ...) after the handler returned fails at once: the SDK closed
  its checkpointer when the handler returned, and the operation would wait for it forever.
"""

from __future__ import annotations

import sys

from ._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types import FrameType
    from typing import Any, Literal

    Status = Literal["SUCCEEDED", "FAILED", "PENDING"]

#: The SDK's module with the context class whose `is_replaying()` tells a replay.
_CONTEXT_MODULE = "aws_durable_execution_sdk_python.context"
#: The SDK's module with the execution state, whose `create_checkpoint` every durable operation goes through.
_STATE_MODULE = "aws_durable_execution_sdk_python.state"
_STATUSES = ("SUCCEEDED", "FAILED", "PENDING")


class Durable:
    """`invocation.durable`: this invocation's part in a durable execution (None for an ordinary invocation)."""

    __slots__ = ("_event", "error", "execution_arn", "replayed", "status")

    def __init__(self, event: dict[str, Any], result: Any, raised: bool) -> None:
        self._event = event
        self.execution_arn: str = str(event.get("DurableExecutionArn", ""))
        operations = _operations(event)
        #: whether this invocation replayed earlier operations (the execution had more than its own start)
        self.replayed = any(isinstance(op, dict) and op.get("Type") != "EXECUTION" for op in operations)
        status = result.get("Status") if isinstance(result, dict) and not raised else None
        #: "SUCCEEDED" or "FAILED": the execution ended with this invocation; "PENDING": it is suspended (a wait, a
        #: callback) and the service invokes the function again later; None: the invocation itself failed (the
        #: handler raised), and the service retries it
        self.status: Status | None = status if status in _STATUSES else None
        #: a FAILED execution's error (`ErrorType`, `ErrorMessage`, ...), as the SDK reports it; None otherwise
        self.error: dict[str, Any] | None = result.get("Error") if self.status == "FAILED" else None

    @property
    def ended(self) -> bool:
        """Whether the execution ended with this invocation (SUCCEEDED or FAILED)."""
        return self.status in ("SUCCEEDED", "FAILED")

    @property
    def input(self) -> Any:
        """The execution's input (what the caller invoked it with), not the service's envelope; None when the event
        does not hold it (the SDK then pages it from the service)."""
        arn_id = self.execution_arn.rsplit("/", 1)[-1]
        starts = [op for op in _operations(self._event) if isinstance(op, dict) and op.get("Type") == "EXECUTION"]
        start = next((op for op in starts if op.get("Id") == arn_id), starts[0] if starts else None)
        if start is None:
            return None
        payload = (start.get("ExecutionDetails") or {}).get("InputPayload")
        if not payload:
            return {}  # the SDK's reading of an empty input
        import json

        return json.loads(payload)

    def __repr__(self) -> str:
        return f"Durable(execution_arn={self.execution_arn!r}, status={self.status!r}, replayed={self.replayed})"


def is_durable_event(event: Any) -> bool:
    """Whether `event` is the durable execution service's envelope."""
    return isinstance(event, dict) and "DurableExecutionArn" in event and "CheckpointToken" in event


def replaying() -> bool:
    """Whether the durable code calling now (the nearest SDK context on this thread's stack) is replaying; False
    without the SDK, or outside durable code. The context is found by looking at the callers' frames: `defer()`
    is given none, and the SDK keeps its current context in no variable a runtime could read."""
    module = sys.modules.get(_CONTEXT_MODULE)
    context_class = getattr(module, "DurableContext", None)
    if context_class is None:
        return False
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        # Only the frame's own variables are looked at (f_locals on 3.13+ is a view, not a copy of the frame).
        for value in frame.f_locals.values():
            if isinstance(value, context_class):
                try:
                    return bool(value.is_replaying())
                except Exception:  # an SDK without it: nothing is held back
                    return False
        frame = frame.f_back
    return False


class DurableOperationAfterReturn(RuntimeError):
    """A durable operation (`context.step`, `context.wait`, ...) was called after the durable handler returned."""


def guard_operations_after_return(handler_returned: Any) -> None:
    """Make a durable operation called once the handler has returned (`handler_returned()` is true: deferred work, a
    hook, a thread the handler left running) raise `DurableOperationAfterReturn` at once. The SDK closes its
    checkpointer when the handler returns; its `create_checkpoint` would then wait for it forever (SDK 3.0,
    `ExecutionState.create_checkpoint`). Installed once, when the SDK is loaded; nothing changes within the handler."""
    module = sys.modules.get(_STATE_MODULE)
    state_class = getattr(module, "ExecutionState", None)
    original = getattr(state_class, "create_checkpoint", None)
    if original is None or getattr(original, "__runtime_guard__", False):
        return

    def create_checkpoint(self: Any, *args: Any, **kwargs: Any) -> Any:
        if handler_returned():
            raise DurableOperationAfterReturn(
                "a durable operation was called after the durable handler returned: the SDK closes its checkpointer "
                "when the handler returns, so the operation could never be recorded (it would wait forever). Call "
                "it in the handler; in deferred work or a hook, do the work without the durable context "
                '(README "Durable functions")'
            )
        return original(self, *args, **kwargs)

    create_checkpoint.__runtime_guard__ = True  # type: ignore[attr-defined]
    create_checkpoint.__wrapped__ = original  # type: ignore[attr-defined]
    state_class.create_checkpoint = create_checkpoint  # type: ignore[union-attr]


def _operations(event: dict[str, Any]) -> list[Any]:
    state = event.get("InitialExecutionState")
    operations = state.get("Operations") if isinstance(state, dict) else None
    return operations if isinstance(operations, list) else []
