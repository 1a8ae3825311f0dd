"""Unit-test a handler with its after-response work: `invoke()` runs the handler in-process as the runtime would, with
`defer()` working, and returns what the caller would get and what would run after the response.

    from runtime.testing import invoke

    def test_order_is_accepted_and_the_event_sent_after():
        outcome = invoke(app.handler, {"order_id": "o-1"})
        assert outcome.result == {"status": "accepted"}
        assert outcome.deferred == ["app.send_event"]          # scheduled, not run yet
        report = outcome.run_after_response()                  # the phase, as the runtime runs it
        assert report == [("app.send_event", "ok"), ("app.flush_metrics", "ok")]

Outside `invoke()` (and outside the runtime's loop), `defer()` still raises `DeferError`.
"""

from __future__ import annotations

import time
import uuid

from .context import FunctionInfo, LambdaContext
from .hooks import Registry, Task, registry
from .invocation import Invocation, Request
from .marshal import marshal_result
from .phase import PhaseRunner, due_hooks

TYPE_CHECKING = False  # `typing` costs ~8 ms of cold start: it is for the type checker only
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ["Outcome", "invoke"]

# The runtime's defaults (README "Configuration"): the time kept free before the deadline, defer() calls allowed.
_MARGIN_MS = 200
_MAX_DEFERRED = 1000


class Outcome:
    """One invocation of a handler through `invoke()`: what the caller gets, and the after-response work."""

    def __init__(
        self, runner: PhaseRunner, invocation: Invocation, deferred: list[Task], hooks: list[str], body: bytes | None
    ) -> None:
        self._runner = runner
        self._deferred = deferred
        self.invocation = invocation
        #: the names of the work the handler deferred, in the order it will run
        self.deferred = [task.name for task in deferred]
        #: the names of the `@after_response` hooks that will run after this invocation (by `when=` and `every=`)
        self.hooks = hooks
        #: the response's body as the runtime would post it (JSON), or None after an error
        self.body = body
        self._ran = False

    @property
    def result(self) -> Any:
        """What the handler returned (awaited, for an `async def` handler)."""
        return self.invocation.result

    @property
    def error(self) -> BaseException | None:
        """The exception the handler raised, or the `MarshalError` the runtime would report; None after success."""
        return self.invocation.error

    @property
    def context(self) -> LambdaContext:
        context: LambdaContext = self.invocation.context
        return context

    def run_after_response(self) -> list[tuple[str, str]]:
        """Run the after-response phase: the deferred work, then the hooks, with the real phase's rules (order,
        time budget, failures logged and not raised, work deferred during the phase run after it). Returns each
        item's (name, outcome): "ok", "failed", "timed_out", "overran" or "skipped". Once only."""
        if self._ran:
            raise RuntimeError("run_after_response() runs the phase once; call invoke() again for another")
        self._ran = True
        scope = self._runner.scope
        scope.open(self.invocation.request_id)  # reopened for the phase: its items may defer() more
        scope.work.extend(self._deferred)
        report = self._runner.run(self.invocation)
        return [(name, outcome) for name, outcome, _ in report.items]


def invoke(
    handler: Callable[[Any, Any], Any],
    event: Any = None,
    *,
    timeout_ms: int = 3000,
    function_name: str = "test_function",
    hooks: Registry = registry,
) -> Outcome:
    """Call `handler(event, context)` as the runtime would, with a realistic `LambdaContext` (a fresh request id, a
    deadline `timeout_ms` from now). An error the handler raises is not raised here: it is `outcome.error`, as the
    caller would get it, and the phase still runs after it. `hooks`: the registry whose `@after_response` hooks
    run (default: the global one the decorators fill)."""
    request_id = str(uuid.uuid4())
    deadline_ms = int(time.time() * 1000) + timeout_ms
    request = Request(request_id, deadline_ms, f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}")
    context = LambdaContext(
        request_id, deadline_ms, request.invoked_function_arn, function=FunctionInfo(function_name, "$LATEST")
    )
    runner = PhaseRunner(hooks, _MARGIN_MS, _MAX_DEFERRED)
    runner.begin_invocation(request)
    result: Any = None
    error: BaseException | None = None
    body: bytes | None = None
    try:
        returned = handler(event, context)
        if hasattr(returned, "__await__"):
            from . import aio

            returned = aio.result_of(returned)
        result = returned
        body, _ = marshal_result(result)
    except Exception as exc:
        error = exc
    # The scope closes with the handler, as at the runtime's POST: defer() in the test's own code raises again.
    deferred = runner.scope.take()
    runner.scope.close()
    invocation = Invocation(request, event, context, result, error)
    return Outcome(runner, invocation, deferred, [hook.name for hook in due_hooks(hooks.hooks, invocation)], body)
