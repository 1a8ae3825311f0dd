"""Powertools for AWS Lambda Metrics, written in the after-response phase.

`@metrics.log_metrics` writes its EMF lines (the cold-start metric and the flush) in the handler, before the caller
has the response. `@log_metrics_after_response(metrics)` takes the same options and writes the same lines in the
phase. Whether this invocation is the cold start is still decided in the handler, as Powertools does, so the
`ColdStart` metric is kept (a plain `@after_response` hook calling `metrics.flush_metrics()` loses it).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics.provider import cold_start

from ..hooks import defer

if TYPE_CHECKING:
    from collections.abc import Callable

    from aws_lambda_powertools import Metrics

__all__ = ["log_metrics_after_response"]


def log_metrics_after_response(
    metrics: Metrics,
    *,
    capture_cold_start_metric: bool = False,
    raise_on_empty_metrics: bool = False,
    default_dimensions: dict[str, str] | None = None,
) -> Callable[[Callable[[Any, Any], Any]], Callable[[Any, Any], Any]]:
    """`@metrics.log_metrics(...)` with the EMF output after the response (sync and `async def` handlers)."""
    if default_dimensions:
        metrics.set_default_dimensions(**default_dimensions)

    def schedule(context: Any, succeeded: bool) -> None:
        # As Powertools: the cold start is counted after a successful first invocation; the flush always happens.
        if succeeded and capture_cold_start_metric and cold_start.is_cold_start:
            cold_start.is_cold_start = False
            defer(metrics.provider.add_cold_start_metric, context)
        defer(metrics.flush_metrics, raise_on_empty_metrics=raise_on_empty_metrics)

    def decorate(handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        import inspect

        if inspect.iscoroutinefunction(handler):

            @functools.wraps(handler)
            async def async_wrapper(event: Any, context: Any) -> Any:
                succeeded = False
                try:
                    response = await handler(event, context)
                    succeeded = True
                    return response
                finally:
                    schedule(context, succeeded)

            return async_wrapper

        @functools.wraps(handler)
        def wrapper(event: Any, context: Any) -> Any:
            succeeded = False
            try:
                response = handler(event, context)
                succeeded = True
                return response
            finally:
                schedule(context, succeeded)

        return wrapper

    return decorate
