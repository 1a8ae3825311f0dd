"""The invocation loop, in protocol order: next → handler → response or error → after-response phase → next."""

from __future__ import annotations

import os
import sys

from . import logs
from .api import NoReply, RejectedRequest, RuntimeApi, RuntimeApiError
from .context import FunctionInfo, LambdaContext, parse_header_json
from .errors import ShutdownRequested, report_from_exception
from .invocation import Invocation
from .logformat import current
from .marshal import marshal_result, to_ascii_json, to_json, unmarshal_event
from .phase import PhaseRunner, fork_state, leave_forked_child

TYPE_CHECKING = False  # `typing` costs ~8 ms of cold start: it is for the type checker only
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from .handler import Handler
    from .invocation import Request


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
        self.function = function
        #: a `@streaming` handler: called with a writer, `handler(event, stream, context)`
        self.writes_stream = getattr(handler, "__runtime_streaming__", False)

    def serve(self, invocations: int | None = None) -> None:
        """Serve invocations until the process is told to stop, or `invocations` of them (in-process tests: the loop
        as it runs in Lambda, against a Runtime API server on loopback, for a known number of invocations)."""
        served = 0
        while True:
            # For Lambda, /next is "done with the last invocation": sent only once its after-response phase is over.
            self.handle(self.api.next_invocation())
            served += 1
            if served == invocations:
                return

    def handle(self, request: Request) -> None:
        """One invocation. Once its response is posted it cannot become an error, whatever the phase does."""
        current.request_id = request.request_id
        current.tenant_id = request.tenant_id
        _set_trace_id(request.trace_id)
        self.runner.begin_invocation(request)
        event: Any = None
        context: LambdaContext | None = None
        result: Any = None
        error: BaseException | None = None
        stream: Any = None  # a streamed response: its ResponseStream (writer style) or its chunks (returned)
        try:
            context = LambdaContext(
                request.request_id,
                request.deadline_ms,
                request.invoked_function_arn,
                parse_header_json(request.client_context, "Client Context"),
                parse_header_json(request.cognito_identity, "Cognito Identity"),
                request.tenant_id,
                self.function,
            )
            event = unmarshal_event(request.body, request.content_type)
            if self.writes_stream:
                from .streaming import ResponseStream

                stream = ResponseStream(
                    lambda kind: self.api.open_stream(request.request_id, kind, request.invocation_id)
                )
                returned = self.handler(event, stream, context)  # type: ignore[call-arg]
            else:
                returned = self.handler(event, context)
            if hasattr(returned, "__await__"):  # an `async def` handler, or one that returns an awaitable
                from . import aio

                returned = aio.result_of(returned)
            result = returned  # hooks never see the coroutine itself, whether it finished or not
            if stream is None and _streams(result):
                from .streaming import Chunks

                stream = Chunks(result)  # its first chunk is made here: an error before it is the handler's
            elif stream is None:
                body, content_type = marshal_result(result)
        except ShutdownRequested as shutdown:
            # The shutdown phase runs this invocation's hooks, with this error.
            self._cut_short(Invocation(request, event, context, result, shutdown, delivered=False))
            raise
        except BaseException as exc:
            error = exc
        if fork_state.child:  # a child process the handler forked comes back here too: it leaves, the parent answers
            leave_forked_child(error)
        # 1. The response (or error) first: for a synchronous caller this is the end of the wait.
        try:
            if stream is not None and (error is None or stream.started):
                # Streamed: the caller has everything once the stream ends; an error after its first byte ends it
                # with Lambda's error trailers instead of an error document.
                delivered = self._deliver(lambda: stream.send(request, self.api, error))
                error = error or stream.streamed.error
            elif error is None:
                delivered = self._deliver(
                    lambda: self.api.post_response(request.request_id, body, content_type, request.invocation_id)
                )
            else:
                delivered = self._post_error(request, error)
        except ShutdownRequested:
            self._cut_short(Invocation(request, event, context, result, error, delivered=False))
            raise
        # 2. The after-response phase, before the next /next: Lambda keeps the environment running until then.
        streamed = stream.streamed if stream is not None else None
        self.runner.run(Invocation(request, event, context, result, error, delivered, streamed))
        current.request_id = None
        current.tenant_id = None
        if isinstance(error, SystemExit):
            # The handler asked the process to end: reported to the caller, the phase ran, now exit.
            logs.runtime_logger().warning("the handler called sys.exit(%s): the runtime exits", _describe(error.code))
            sys.exit(error.code)

    def _cut_short(self, invocation: Invocation) -> None:
        if fork_state.child:
            leave_forked_child()
        self.runner.cut_short(invocation)

    def _post_error(self, request: Request, error: BaseException) -> bool:
        report = report_from_exception(error, request.request_id)
        document = report.to_dict()
        logs.log_unhandled_error(document)
        body, cause = to_json(document), to_ascii_json(report.xray_cause())
        return self._deliver(
            lambda: self.api.post_error(request.request_id, body, report.error_type, cause, request.invocation_id)
        )

    def _deliver(self, post: Callable[[], None]) -> bool:
        try:
            post()
        except RejectedRequest as exc:
            logs.runtime_logger().error("the Runtime API refused the invocation's result: %s", _explain(exc))
            return False
        except NoReply as exc:
            # The request went out in full; only its status is missing. Lambda has the result (it would refuse a
            # second one with 403): the phase runs, and the next /next tells whether the API is still usable.
            logs.runtime_logger().warning("the result was sent but %s: counted as delivered", exc)
            return True
        except RuntimeApiError:
            # Lambda asks the runtime to exit promptly; tell what after-response work is lost with it.
            lost = self.runner.unrun_work()
            if lost:
                logs.runtime_logger().error("after-response work not run because the runtime must exit: %s", lost)
            raise
        return True


def _streams(result: Any) -> bool:
    """Whether a result is streamed (runtime/streaming.py decides; its module only when it may be one)."""
    if result is None or isinstance(result, (dict, str, bytes, list, int, float, bool)):
        return False  # the common results, decided without importing anything
    from .streaming import is_stream

    return is_stream(result)


def _explain(exc: RejectedRequest) -> str:
    if exc.status == 413:
        return f"413, response too large (over 6 MiB): the caller gets Function.ResponseSizeTooLarge ({exc})"
    if exc.status == 410:
        return f"410, the invocation had already timed out ({exc})"
    return str(exc)


def _describe(code: object) -> str:
    """The exit code as the log shows it; a code object whose repr raises is still described."""
    try:
        return repr(code)
    except Exception:
        return f"<{type(code).__name__}>"


def _set_trace_id(trace_id: str | None) -> None:
    # X-Ray SDKs read the trace id of the current invocation from the environment (platform §5.7).
    if trace_id is not None:
        os.environ["_X_AMZN_TRACE_ID"] = trace_id
    else:
        os.environ.pop("_X_AMZN_TRACE_ID", None)
