"""The durable workflow with its telemetry flushed by an after-response hook: after each invocation's result."""

from __future__ import annotations

from bench_durable_app import flush, workflow  # type: ignore[import-not-found]  # bench/functions is the task root

from runtime import Invocation, after_response

handler = workflow


@after_response
def send_telemetry(invocation: Invocation) -> None:
    flush()
