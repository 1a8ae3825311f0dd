"""One invocation: the request as `/next` delivered it, and the finished invocation hooks receive.

`Request` is parsed once from `/next` (api.py) and never changes; a new field of an invocation (a streaming flag, a
worker id) goes here. `Invocation` is built once the response is posted (or when SIGTERM cuts the invocation short)
and holds the request with what the handler made of it.
"""

from __future__ import annotations

import time

from ._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any, Final

    from .durable import Durable


class Request:
    """One `GET /runtime/invocation/next` reply, its headers parsed once. Not changed after it is built."""

    __slots__ = (
        "body", "client_context", "cognito_identity", "content_type", "deadline_ms", "invocation_id",
        "invoked_function_arn", "request_id", "tenant_id", "trace_id",
    )  # fmt: skip

    def __init__(
        self,
        request_id: str,
        deadline_ms: int,
        invoked_function_arn: str | None = None,
        trace_id: str | None = None,
        client_context: str | None = None,
        cognito_identity: str | None = None,
        tenant_id: str | None = None,
        content_type: str | None = None,
        invocation_id: str | None = None,
        body: bytes = b"",
    ) -> None:
        self.request_id: Final = request_id
        #: Lambda's deadline for the invocation, in milliseconds since the epoch; the phase shares it
        self.deadline_ms: Final = deadline_ms
        self.invoked_function_arn: Final = invoked_function_arn
        self.trace_id: Final = trace_id
        self.client_context: Final = client_context
        self.cognito_identity: Final = cognito_identity
        self.tenant_id: Final = tenant_id
        self.content_type: Final = content_type
        self.invocation_id: Final = invocation_id
        self.body: Final = body

    def __repr__(self) -> str:
        return f"Request(request_id={self.request_id!r}, deadline_ms={self.deadline_ms})"


class Invocation:
    """The finished invocation, as after-response hooks receive it. Not changed after it is built."""

    __slots__ = ("context", "delivered", "durable", "error", "event", "request", "result", "streamed")

    def __init__(
        self,
        request: Request,
        event: Any = None,
        context: Any = None,
        result: Any = None,
        error: BaseException | None = None,
        delivered: bool = True,
        streamed: Any = None,
    ) -> None:
        self.request: Final = request
        self.event: Final = event
        self.context: Final = context
        self.result: Final = result
        #: the exception the handler raised (or the runtime's marshalling error, or the SIGTERM that cut the
        #: invocation short); None after a success
        self.error: Final = error
        #: True once Lambda accepted the response; False when it refused it (e.g. 413, too large: the caller got
        #: Lambda's error) or when SIGTERM came before the POST returned
        self.delivered: Final = delivered
        #: for a streamed response, what went out (`bytes_sent`, `chunks`, and the `error` that ended it early, if
        #: any: runtime.streaming.Streamed); None for a buffered one
        self.streamed: Final = streamed
        durable: Durable | None = None
        if isinstance(event, dict) and "DurableExecutionArn" in event:
            from .durable import Durable, is_durable_event

            if is_durable_event(event):
                durable = Durable(event, result, error is not None)
        #: for an invocation of a durable execution, its status, whether it replayed, the execution's input
        #: (runtime.durable.Durable); None for an ordinary invocation
        self.durable: Final = durable

    @property
    def request_id(self) -> str:
        return self.request.request_id

    @property
    def deadline_ms(self) -> int:
        return self.request.deadline_ms

    @property
    def succeeded(self) -> bool:
        """The handler returned a result; for a durable execution, only when the execution SUCCEEDED with this
        invocation (a FAILED one failed, a suspended one did neither)."""
        return self.error is None and (self.durable is None or self.durable.status == "SUCCEEDED")

    @property
    def suspended(self) -> bool:
        """A durable execution's invocation that ended PENDING (a wait, a callback): neither a success nor a
        failure; the service invokes the function again later."""
        return self.durable is not None and self.durable.status == "PENDING"

    @property
    def ended(self) -> bool:
        """Whether this invocation ended its work: every ordinary invocation, and the invocation that ends a durable
        execution (SUCCEEDED or FAILED)."""
        return self.durable is None or self.durable.ended

    def remaining_time_in_millis(self) -> int:
        """Milliseconds until Lambda's deadline for this invocation, which the after-response phase shares."""
        return max(self.request.deadline_ms - int(time.time() * 1000), 0)

    def __repr__(self) -> str:
        return f"Invocation(request_id={self.request_id!r}, succeeded={self.succeeded})"
