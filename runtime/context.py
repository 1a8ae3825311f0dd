"""The `context` argument of a handler: awslambdaric 4.x's LambdaContext, attribute for attribute (platform §5.4)."""

from __future__ import annotations

import time

from ._typing import TYPE_CHECKING
from .errors import ContextUnmarshalError

if TYPE_CHECKING:
    from typing import Any

# Fields `LambdaContext.w3c()` exposes from `clientContext.w3c`, as awslambdaric does.
_W3C_FIELDS = ("traceparent", "tracestate", "baggage")


class FunctionInfo:
    """What every invocation's context shares, read from the environment once."""

    __slots__ = ("function_name", "function_version", "log_group_name", "log_stream_name", "memory_limit_in_mb")

    def __init__(
        self,
        function_name: str | None = None,
        function_version: str | None = None,
        memory_limit_in_mb: str | None = None,
        log_group_name: str | None = None,
        log_stream_name: str | None = None,
    ) -> None:
        self.function_name = function_name
        self.function_version = function_version
        self.memory_limit_in_mb = memory_limit_in_mb
        self.log_group_name = log_group_name
        self.log_stream_name = log_stream_name


_NO_FUNCTION_INFO = FunctionInfo()


class CognitoIdentity:
    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")

    def __init__(self, identity_id: Any = None, pool_id: Any = None) -> None:
        self.cognito_identity_id = identity_id
        self.cognito_identity_pool_id = pool_id

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(["
            f"cognito_identity_id={self.cognito_identity_id},"
            f"cognito_identity_pool_id={self.cognito_identity_pool_id}"
            "])"
        )


class Client:
    __slots__ = ("app_package_name", "app_title", "app_version_code", "app_version_name", "installation_id")

    def __init__(self, fields: dict[str, Any]) -> None:
        self.installation_id = fields.get("installation_id")
        self.app_title = fields.get("app_title")
        self.app_version_name = fields.get("app_version_name")
        self.app_version_code = fields.get("app_version_code")
        self.app_package_name = fields.get("app_package_name")

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(["
            f"installation_id={self.installation_id},"
            f"app_title={self.app_title},"
            f"app_version_name={self.app_version_name},"
            f"app_version_code={self.app_version_code},"
            f"app_package_name={self.app_package_name}"
            "])"
        )


class ClientContext:
    __slots__ = ("client", "custom", "env")

    def __init__(self, fields: dict[str, Any]) -> None:
        self.custom = fields.get("custom")
        self.env = fields.get("env")
        client = fields.get("client")
        self.client: Client | None = Client(client) if isinstance(client, dict) else None

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}([custom={self.custom},env={self.env},client={self.client}])"


class LambdaContext:
    """The invocation's context: request id, function metadata, deadline, client context and identity."""

    def __init__(
        self,
        aws_request_id: str,
        deadline_ms: int,
        invoked_function_arn: str | None = None,
        client_context: dict[str, Any] | None = None,
        cognito_identity: dict[str, Any] | None = None,
        tenant_id: str | None = None,
        function: FunctionInfo = _NO_FUNCTION_INFO,
    ) -> None:
        self.aws_request_id = aws_request_id
        self.log_group_name = function.log_group_name
        self.log_stream_name = function.log_stream_name
        self.function_name = function.function_name
        self.memory_limit_in_mb = function.memory_limit_in_mb
        self.function_version = function.function_version
        self.invoked_function_arn = invoked_function_arn
        self.tenant_id = tenant_id
        self._w3c_fields = _pop_w3c(client_context)
        self.client_context = ClientContext(client_context) if client_context is not None else None
        self.identity = CognitoIdentity()
        if cognito_identity is not None:
            self.identity.cognito_identity_id = cognito_identity.get("cognitoIdentityId")
            self.identity.cognito_identity_pool_id = cognito_identity.get("cognitoIdentityPoolId")
        # awslambdaric's attribute name: code written for it reads it (e.g. to compute its own timeouts).
        self._epoch_deadline_time_in_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds until Lambda ends this invocation; the after-response phase shares this deadline."""
        return max(self._epoch_deadline_time_in_ms - int(time.time() * 1000), 0)

    def w3c(self) -> dict[str, str]:
        """The W3C trace context (`traceparent`, `tracestate`, `baggage`) the caller passed in the client context."""
        return dict(self._w3c_fields)

    def log(self, msg: Any) -> None:
        """Write to the function's log as awslambdaric does: the log sink when the runtime set one up, no newline."""
        from . import logs

        logs.write_raw(str(msg))

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(["
            f"aws_request_id={self.aws_request_id},"
            f"log_group_name={self.log_group_name},"
            f"log_stream_name={self.log_stream_name},"
            f"function_name={self.function_name},"
            f"memory_limit_in_mb={self.memory_limit_in_mb},"
            f"function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn},"
            f"client_context={self.client_context},"
            f"identity={self.identity},"
            f"tenant_id={self.tenant_id}"
            "])"
        )

    @classmethod
    def fake(cls, request_id: str = "00000000-0000-0000-0000-000000000000", timeout_ms: int = 3000) -> LambdaContext:
        """A context for calling a handler in a unit test."""
        return cls(request_id, int(time.time() * 1000) + timeout_ms, function=FunctionInfo("test_function", "$LATEST"))


def parse_header_json(value: str | None, name: str) -> dict[str, Any] | None:
    """The client-context or cognito-identity header as a dict; awslambdaric's error for bad JSON (platform §5.1).

    awslambdaric fails with an AttributeError on valid JSON that is not an object; that is reported as the same
    `Runtime.LambdaContextUnmarshalError` here (README "Compatibility").
    """
    if not value:
        return None
    import json

    try:
        parsed = json.loads(value)
    except Exception as exc:
        raise ContextUnmarshalError(f"Unable to parse {name} JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise ContextUnmarshalError(f"Unable to parse {name} JSON: expected an object, got {type(parsed).__name__}")
    return parsed


def _pop_w3c(client_context: dict[str, Any] | None) -> dict[str, str]:
    if client_context is None or "w3c" not in client_context:
        return {}
    raw = client_context.pop("w3c")
    if not isinstance(raw, dict):
        return {}
    return {key: value for key in _W3C_FIELDS if isinstance(value := raw.get(key), str)}
