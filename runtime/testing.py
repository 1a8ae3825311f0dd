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

from ._typing import TYPE_CHECKING
from .context import FunctionInfo, LambdaContext
from .current import Lifetime
from .handler import HandlerCall
from .hooks import Registry, Task, registry, run_init
from .invocation import Invocation, Request
from .phase import PhaseRunner, due_hooks
from .reply import Channel

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from .errors import ErrorReport

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
        #: the response's body as the runtime would post it (JSON, or a stream's bytes, its HTTP prelude included),
        #: or None after an error before any byte went out
        self.body = body
        self._ran = False

    @property
    def result(self) -> Any:
        """What the handler returned (awaited, for an `async def` handler)."""
        return self.invocation.result

    @property
    def error(self) -> BaseException | None:
        """The exception the handler (or its stream) raised, or the `MarshalError` the runtime would report; None
        after success."""
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
        lifetime = self._runner.lifetime
        lifetime.begin(self.invocation.request)  # open again for the phase: its items may defer() more
        lifetime.deferred.work.extend(self._deferred)
        report = self._runner.run(self.invocation)
        lifetime.end()
        return [(name, outcome) for name, outcome, _ in report.items]


class _Recorded(Channel):
    """The reply as it would reach Lambda, kept in memory."""

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.body: bytes | None = None
        self._parts: list[bytes] = []

    def post_response(self, body: bytes, content_type: str) -> None:
        self.body = body

    def post_error(self, report: ErrorReport) -> None:
        self.body = None

    def open_stream(self, content_type: str) -> _Recorded:  # type: ignore[override]
        return self

    def write(self, chunk: bytes) -> None:
        self._parts.append(chunk)

    def finish(self, error: tuple[str, bytes] | None = None) -> None:
        self.body = b"".join(self._parts)


def invoke(
    handler: Callable[[Any, Any], Any],
    event: Any = None,
    *,
    timeout_ms: int = 3000,
    function_name: str = "test_function",
    hooks: Registry = registry,
) -> Outcome:
    """Call `handler(event, context)` as the runtime would, with a realistic `LambdaContext` (a fresh request id, a
    deadline `timeout_ms` from now). A streamed response (a generator, a `StreamingResponse`, a `@streaming`
    writer) is read to its end, as the runtime sends it. An error the handler raises is not raised here: it is
    `outcome.error`, as the caller would get it, and the phase still runs after it. `hooks`: the registry whose
    `@after_response` hooks run (default: the global one the decorators fill).

    The registry's `@on_init` hooks that have not run yet run first, once each in the process, as at a cold start
    (an async one on the loop the handler then runs on); an exception one raises is raised here, as the init error
    Lambda would report, and that hook runs again at the next call."""
    run_init(hooks)  # before the invocation opens: defer() at init is refused, as in the runtime
    request_id = str(uuid.uuid4())
    deadline_ms = int(time.time() * 1000) + timeout_ms
    request = Request(request_id, deadline_ms, f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}")
    runner = PhaseRunner(hooks, Lifetime(_MAX_DEFERRED), _MARGIN_MS)
    runner.lifetime.begin(request)
    channel = _Recorded(request_id)
    call = HandlerCall(request, event)  # the test's event as it is, not through JSON
    delivered = call.run(handler, FunctionInfo(function_name, "$LATEST"), channel).send(channel)
    # Closed once the reply went out, as at the runtime's POST: defer() in the test's own code raises again.
    deferred = runner.lifetime.end()
    invocation = call.invocation(delivered)
    return Outcome(
        runner, invocation, deferred, [hook.name for hook in due_hooks(hooks.hooks, invocation)], channel.body
    )
