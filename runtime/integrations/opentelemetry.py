"""OpenTelemetry: one span per invocation, and the providers' `force_flush()` in the after-response phase.

OpenTelemetry's Lambda instrumentation ends the invocation's span and calls `force_flush()` before the handler
returns, so the caller waits for the export (opentelemetry-lambda #812 asks to move it). `@instrument` ends the span
when the handler returns (its duration is the handler's) and defers the flush: the caller has the response while
the spans (and metrics, with `meter_provider`) are exported. Use a `BatchSpanProcessor`: with it, ending a span
costs no network call.
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind

from ..current import phase_time_left
from ..hooks import defer

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["instrument"]

_cold = {"start": True}


def instrument(
    handler: Callable[[Any, Any], Any] | None = None,
    *,
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: metrics.MeterProvider | None = None,
    flush_timeout_ms: int = 30_000,
) -> Any:
    """`@instrument` or `@instrument(tracer_provider=..., meter_provider=...)` (default: the global providers).

    The span: named after the function, kind SERVER, with `faas.invocation_id`, `faas.coldstart`,
    `cloud.resource_id` and `cloud.account.id`; an exception the handler raises is recorded and sets the status to
    ERROR. The flush is deferred work named `runtime.integrations.opentelemetry.flush`; it waits at most
    `flush_timeout_ms`, and never past the phase's time before the deadline."""

    def decorate(fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        import inspect

        tracer = trace.get_tracer(__name__, tracer_provider=tracer_provider)

        def start(context: Any) -> Any:
            cold, _cold["start"] = _cold["start"], False
            arn = getattr(context, "invoked_function_arn", None) or ""
            attributes: dict[str, Any] = {
                "faas.invocation_id": getattr(context, "aws_request_id", ""),
                "faas.coldstart": cold,
                "cloud.provider": "aws",
                "cloud.region": os.environ.get("AWS_REGION", ""),
            }
            if arn:
                attributes["cloud.resource_id"] = arn
                attributes["cloud.account.id"] = arn.split(":")[4] if arn.count(":") >= 5 else ""
            name = getattr(context, "function_name", None) or fn.__name__
            return tracer.start_as_current_span(name, kind=SpanKind.SERVER, attributes=attributes)

        def schedule() -> None:
            defer(flush, tracer_provider, meter_provider, flush_timeout_ms)

        # start_as_current_span records an exception the handler raises and sets the span's status to ERROR.
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(event: Any, context: Any) -> Any:
                try:
                    with start(context):
                        return await fn(event, context)
                finally:
                    schedule()

            return async_wrapper

        @functools.wraps(fn)
        def wrapper(event: Any, context: Any) -> Any:
            try:
                with start(context):
                    return fn(event, context)
            finally:
                schedule()

        return wrapper

    return decorate(handler) if handler is not None else decorate


def flush(
    tracer_provider: trace.TracerProvider | None, meter_provider: metrics.MeterProvider | None, timeout_ms: int
) -> None:
    """Export what the providers hold (the global ones by default), within `timeout_ms` and the time the phase has
    left: with the collector down, a flush that waited its full timeout would run the invocation into Lambda's
    deadline, billed as a timeout and followed by a cold start. An export that did not finish in that time is a
    `TimeoutError` (the phase logs it as this item's failure). A provider without `force_flush` (the API's no-op
    default, when the SDK is not configured) is skipped.

    The SDK's `force_flush` does not bound its own wait (BatchSpanProcessor exports synchronously, with retries, and
    ignores `timeout_millis` in opentelemetry-sdk 1.45): it runs on a thread of its own, and the phase waits for that
    thread no longer than the time given. An export still running then goes on in the background."""
    for kind, provider in (
        ("spans", tracer_provider or trace.get_tracer_provider()),
        ("metrics", meter_provider or metrics.get_meter_provider()),
    ):
        force_flush = getattr(provider, "force_flush", None)
        if force_flush is None:
            continue
        left_s = phase_time_left()
        wait_ms = int(min(timeout_ms, left_s * 1000)) if left_s is not None else timeout_ms
        if not _finished_within(wait_ms, force_flush):
            raise TimeoutError(f"the OpenTelemetry {kind} export did not finish within {wait_ms} ms")


def _finished_within(wait_ms: int, force_flush: Callable[[int], Any]) -> bool:
    """Whether `force_flush(wait_ms)` returned within `wait_ms` and said it finished (its exception is raised)."""
    import threading

    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(force_flush(wait_ms))
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, name="opentelemetry flush", daemon=True)
    thread.start()
    thread.join(wait_ms / 1000)
    if not outcome:
        return False
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0] is not False  # the SDK's providers return False when the export did not finish
