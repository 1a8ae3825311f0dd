"""The invocation loop, in protocol order: next → handler → reply → after-response phase → next."""

from __future__ import annotations

import sys

from . import logs
from ._typing import TYPE_CHECKING
from .api import RuntimeApiError
from .errors import ShutdownRequested
from .handler import HandlerCall
from .phase import log_lost_work
from .reply import ApiChannel

if TYPE_CHECKING:
    from collections.abc import Iterable

    from .api import RuntimeApi
    from .context import FunctionInfo
    from .current import Lifetime
    from .handler import Handler
    from .invocation import Request
    from .phase import PhaseRunner


class Loop:
    def __init__(
        self,
        api: RuntimeApi,
        handler: Handler,
        runner: PhaseRunner,
        function: FunctionInfo,
    ) -> None:
        self.api = api
        self.handler = handler
        self.runner = runner
        self.lifetime: Lifetime = runner.lifetime
        self.function = function

    def serve(self, invocations: Iterable[Request]) -> None:
        """Serve each invocation as it comes (`api.invocations()`: until the process is told to stop). For Lambda,
        asking for the next one is "done with the last one": it is asked for only once the phase is over."""
        for request in invocations:
            self.handle(request)

    def handle(self, request: Request) -> None:
        """One invocation. Once its reply went out it cannot become an error, whatever the phase does."""
        self.lifetime.begin(request)
        call = HandlerCall(request)
        channel = ApiChannel(self.api, request)
        try:
            reply = call.run(self.handler, self.function, channel)
            # 1. The reply first: for a synchronous caller this is the end of the wait.
            self.lifetime.activity.name = reply.name  # a stream's producer runs now: the watchdog names it
            delivered = reply.send(channel)
        except ShutdownRequested as shutdown:
            # The shutdown phase runs this invocation's hooks, with what it got as far as it got.
            if call.reply is not None:
                call.reply.interrupted(shutdown)
            self.runner.cut_short(call.invocation(delivered=False))
            raise
        except RuntimeApiError:
            # Lambda asks the runtime to exit promptly; tell what after-response work is lost with it.
            log_lost_work(self.runner.unrun_work())
            raise
        # 2. The after-response phase, before the next /next: Lambda keeps the environment running until then.
        invocation = call.invocation(delivered)
        self.runner.run(invocation)
        self.lifetime.end()
        if isinstance(invocation.error, SystemExit):
            # The handler asked the process to end: reported to the caller, the phase ran, now exit.
            code = invocation.error.code
            logs.runtime_logger().warning("the handler called sys.exit(%s): the runtime exits", _describe(code))
            sys.exit(code)


def _describe(code: object) -> str:
    """The exit code as the log shows it; a code object whose repr raises is still described."""
    try:
        return repr(code)
    except Exception:
        return f"<{type(code).__name__}>"
