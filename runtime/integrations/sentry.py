"""Sentry: unhandled handler errors captured, and the transport flushed, in the after-response phase.

Sentry's `AwsLambdaIntegration` hooks in by patching awslambdaric's internals, so under this runtime it silently
does nothing; it also flushes before the handler returns. Pass `AfterResponseIntegration()` to `sentry_sdk.init`
instead: an exception the handler raises is captured as Sentry's Lambda integration captures it (mechanism
`aws_lambda`, unhandled; the `lambda` and `cloudwatch logs` extras; the HTTP request of an API Gateway, Function URL
or ALB event), after the response, and the events of the invocation are sent before the next one starts.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import sentry_sdk
from sentry_sdk.integrations import Integration
from sentry_sdk.integrations.logging import ignore_logger
from sentry_sdk.utils import event_from_exception

from ..current import phase_time_left
from ..errors import ShutdownRequested
from ..hooks import after_response
from ..logformat import RUNTIME_LOGGER

if TYPE_CHECKING:
    from ..invocation import Invocation

__all__ = ["AfterResponseIntegration"]


class AfterResponseIntegration(Integration):
    """`sentry_sdk.init(dsn=..., integrations=[AfterResponseIntegration()])`. `flush_timeout_s`: how long the
    phase waits for Sentry's transport."""

    identifier = "lambda_after_response"
    flush_timeout_s = 2.0

    def __init__(self, flush_timeout_s: float = 2.0) -> None:
        AfterResponseIntegration.flush_timeout_s = flush_timeout_s

    @staticmethod
    def setup_once() -> None:
        # The runtime's own records (the phase's summary line, the watchdog) are about the runtime, not the app:
        # not breadcrumbs or events of the app's invocations.
        ignore_logger(RUNTIME_LOGGER)
        after_response(when="error", name="sentry capture")(_capture)
        after_response(name="sentry flush")(_flush)


def _capture(invocation: Invocation) -> None:
    error = invocation.error
    if error is None or isinstance(error, ShutdownRequested):
        return
    client = sentry_sdk.get_client()
    if not client.is_active():
        return
    with sentry_sdk.new_scope() as scope:
        scope.set_tag("aws_region", os.environ.get("AWS_REGION", ""))
        context = invocation.context
        if context is not None:
            scope.set_transaction_name(context.function_name)
            scope.set_extra(
                "lambda",
                {
                    "function_name": context.function_name,
                    "function_version": context.function_version,
                    "invoked_function_arn": context.invoked_function_arn,
                    "aws_request_id": context.aws_request_id,
                    "remaining_time_in_millis": context.get_remaining_time_in_millis(),
                },
            )
            scope.set_extra(
                "cloudwatch logs", {"log_group": context.log_group_name, "log_stream": context.log_stream_name}
            )
        request = _request(invocation.event, client.options.get("send_default_pii", False))
        if request:
            scope.set_context("request", request)
        event, hint = event_from_exception(
            error, client_options=client.options, mechanism={"type": "aws_lambda", "handled": False}
        )
        if request:
            event["request"] = request
        sentry_sdk.capture_event(event, hint=hint)


def _flush(invocation: Invocation) -> None:
    # Never past the phase's time: with Sentry unreachable, a longer wait would run the invocation into its deadline.
    left_s = phase_time_left()
    timeout_s = AfterResponseIntegration.flush_timeout_s
    sentry_sdk.flush(timeout=min(timeout_s, left_s) if left_s is not None else timeout_s)
    # Breadcrumbs of this invocation stay with it.
    sentry_sdk.get_isolation_scope().clear_breadcrumbs()


def _request(event: Any, send_default_pii: bool) -> dict[str, Any]:
    """The HTTP request of an API Gateway, Function URL or ALB event (headers only with send_default_pii, as
    Sentry's own integration filters them); empty for other events."""
    from ..web.events import UnsupportedEvent, parse_event

    try:
        http = parse_event(event)
    except UnsupportedEvent:
        return {}
    host = http.header("host") or "unknown"
    request: dict[str, Any] = {
        "method": http.method,
        "url": f"{http.scheme}://{host}{http.path}",
        "query_string": http.query_string,
    }
    if send_default_pii:
        request["headers"] = dict(http.headers)
    return request
