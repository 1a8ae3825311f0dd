"""The durable workflow with its telemetry flushed in the handler, after the SDK's wrapper returned (what a
decorator such as Powertools' metrics does under awslambdaric): before each invocation's result."""

from __future__ import annotations

from typing import Any

from bench_durable_app import flush, workflow  # type: ignore[import-not-found]  # bench/functions is the task root


def handler(event: Any, context: Any) -> Any:
    try:
        return workflow(event, context)
    finally:
        flush()
