"""The handler: load the one `_HANDLER` names, with awslambdaric's rules and error types (platform §5.1), and call it
for one invocation (`HandlerCall`, the step the loop and `runtime.testing.invoke` share)."""

from __future__ import annotations

import os
import sys

from ._typing import TYPE_CHECKING
from .context import LambdaContext, parse_header_json
from .current import leave_if_forked_child
from .errors import (
    BuiltInModuleConflict,
    HandlerNotFound,
    ImportModuleError,
    MalformedHandlerName,
    ShutdownRequested,
    UserCodeSyntaxError,
)
from .invocation import Invocation
from .marshal import marshal_result, unmarshal_event
from .reply import Buffered, ErrorReply

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from .context import FunctionInfo
    from .invocation import Request
    from .reply import Channel, Reply

    Handler = Callable[[Any, Any], Any]


def load_handler(spec: str) -> Handler:
    """`mod.fn`, `pkg.mod.fn` or `dir/mod.fn` → the function; any other import failure propagates as it is."""
    try:
        module_name, function_name = spec.rsplit(".", 1)
    except ValueError as exc:
        raise MalformedHandlerName(f"Bad handler '{spec}': {exc}") from None
    if module_name.split(".")[0] in sys.builtin_module_names:
        raise BuiltInModuleConflict(f"Cannot use built-in module {module_name} as a handler module")
    name = module_name.replace("/", ".")
    try:
        # __import__, not importlib.import_module: the same import, without `importlib` and the `warnings` it
        # imports (~0.4 ms of every cold start).
        __import__(name)
        module = sys.modules[name]
    except ImportError as exc:
        raise ImportModuleError(f"Unable to import module '{module_name}': {exc}") from exc
    except SyntaxError as exc:
        trace = [f'  File "{exc.filename}" Line {exc.lineno}\n    {exc.text}']
        raise UserCodeSyntaxError(f"Syntax error in module '{module_name}': {exc}", trace) from exc
    try:
        handler: Handler = getattr(module, function_name)
    except AttributeError:
        raise HandlerNotFound(f"Handler '{function_name}' missing on module '{module_name}'") from None
    return handler


def refuse_shadowing_modules(task_root: str | None) -> None:
    """A module or package named `runtime` in the task root (or the working directory) is an init error naming it.

    bootstrap imports this package from its own directory, ahead of the task root, so start-up always works; but the
    function's `from runtime import after_response` and its own `import runtime` would then get the same module,
    and one of them the wrong one. awslambdaric has no such name to collide with (README "Compatibility"). Other
    places on sys.path (site-packages) are not searched: they hold installed copies of this runtime, not user code.
    """
    # The import system's own path finder (importlib.machinery.PathFinder), already loaded: no `importlib` import.
    from _frozen_importlib_external import PathFinder

    ours = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    places = {os.path.abspath(place) for place in (task_root, os.getcwd()) if place} - {ours}
    spec = PathFinder.find_spec(__package__ or "runtime", sorted(places))
    # A folder without __init__.py (a namespace portion, e.g. data files) does not shadow a regular package.
    if spec is not None and spec.origin is not None:
        raise BuiltInModuleConflict(
            f"Cannot use {spec.origin}: 'runtime' is the name of this Lambda runtime's own package "
            "(from runtime import after_response); rename the module"
        )


_FROM_REQUEST: Any = object()


class HandlerCall:
    """The handler step of one invocation, shared by the loop and `runtime.testing.invoke`: build the context,
    unmarshal the event, call the handler (with a writer, for a `@streaming` one), await what it returned, and make
    the reply. What it got as far as it got stays on it, for an invocation SIGTERM cuts short."""

    __slots__ = ("context", "event", "reply", "request", "result")

    def __init__(self, request: Request, event: Any = _FROM_REQUEST) -> None:
        self.request = request
        #: the event: unmarshalled from the request's body, unless given (runtime.testing.invoke)
        self.event: Any = event
        self.context: LambdaContext | None = None
        #: what the handler returned (awaited: hooks never see the coroutine itself)
        self.result: Any = None
        #: the reply, once there is one (a `@streaming` handler's writer from the start)
        self.reply: Reply | None = None

    def run(self, handler: Handler, function: FunctionInfo, channel: Channel) -> Reply:
        """Call the handler; its failure is the reply (an error document, or a started stream's trailers), never
        raised. SIGTERM's `ShutdownRequested` is."""
        error: BaseException | None = None
        try:
            returned = self._call(handler, function, channel)
            if hasattr(returned, "__await__"):  # an `async def` handler, or one that returns an awaitable
                from . import aio

                returned = aio.result_of(returned)
            self.result = returned
            if self.reply is None:  # a `@streaming` handler's writer is the reply already
                self.reply = _reply_for(returned)  # a stream makes its first chunk here: its error is the handler's
        except ShutdownRequested:
            leave_if_forked_child()
            raise
        except BaseException as exc:
            error = exc
            self._failed(exc)
        # A child process the handler forked comes back here too: it leaves, the parent answers.
        leave_if_forked_child(error)
        assert self.reply is not None
        return self.reply

    async def run_async(self, handler: Handler, function: FunctionInfo, channel: Channel) -> Reply:
        """`run()` as a task of the running event loop (tasks mode); the task's cancellation (the shutdown's)
        propagates, a `CancelledError` the handler raises itself is its failure."""
        from asyncio import CancelledError

        from . import aio

        try:
            returned = self._call(handler, function, channel)
            if hasattr(returned, "__await__"):
                returned = await returned
            self.result = returned
            if self.reply is None and not isinstance(returned, _PLAIN):
                # A stream makes its first chunk now: in a thread, from which an async generator runs on the loop.
                from asyncio import to_thread

                self.reply = await to_thread(_reply_for, returned)
            elif self.reply is None:
                self.reply = _reply_for(returned)
        except BaseException as exc:
            if isinstance(exc, CancelledError) and aio.being_cancelled():
                raise
            self._failed(exc)
        assert self.reply is not None
        return self.reply

    def _call(self, handler: Handler, function: FunctionInfo, channel: Channel) -> Any:
        """Build the context and the event, and call the handler (with a writer, for a `@streaming` one)."""
        request = self.request
        self.context = LambdaContext(
            request.request_id,
            request.deadline_ms,
            request.invoked_function_arn,
            parse_header_json(request.client_context, "Client Context"),
            parse_header_json(request.cognito_identity, "Cognito Identity"),
            request.tenant_id,
            function,
        )
        if self.event is _FROM_REQUEST:
            self.event = None
            self.event = unmarshal_event(request.body, request.content_type)
        if isinstance(self.event, dict) and "DurableExecutionArn" in self.event:  # durable.py, imported if so
            from . import current, durable

            if durable.is_durable_event(self.event):
                durable.guard_operations_after_return(current.handler_returned)
        if getattr(handler, "__runtime_streaming__", False):
            from .streaming import ResponseStream

            self.reply = writer = ResponseStream(channel)
            return handler(self.event, writer, self.context)  # type: ignore[call-arg]
        return handler(self.event, self.context)

    def _failed(self, error: BaseException) -> None:
        writer = self.reply
        if writer is not None and getattr(writer, "started", False):
            writer.error = error  # after its first byte: the stream ends with the error trailers
        else:
            self.reply = ErrorReply(error)

    def invocation(self, delivered: bool) -> Invocation:
        """The invocation as hooks receive it, once its reply went out (or SIGTERM cut it short)."""
        reply = self.reply
        error = reply.error if reply is not None else ShutdownRequested()
        streamed = reply.streamed if reply is not None else None
        return Invocation(self.request, self.event, self.context, self.result, error, delivered, streamed)


#: the results marshalled as they are, decided without importing streaming
_PLAIN = (type(None), dict, str, bytes, list, int, float, bool)


def _reply_for(result: Any) -> Reply:
    if isinstance(result, _PLAIN):
        body, content_type = marshal_result(result)  # the common results, decided without importing streaming
        return Buffered(body, content_type)
    from .streaming import ReturnedStream, is_stream

    if is_stream(result):
        return ReturnedStream(result)
    body, content_type = marshal_result(result)
    return Buffered(body, content_type)
