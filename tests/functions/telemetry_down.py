"""OpenTelemetry and Sentry with their backends down (a loopback port that accepts connections and never answers):
their flushes must end within the phase's time, not at Lambda's deadline. BACKEND is that port's URL."""

from __future__ import annotations

import os
from typing import Any

import sentry_sdk
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from runtime.integrations.opentelemetry import instrument
from runtime.integrations.sentry import AfterResponseIntegration

_backend = os.environ["BACKEND"]
provider = TracerProvider()
# The exporter's own timeout is longer than the function's: only the runtime's cap ends the flush in time.
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=_backend + "/v1/traces", timeout=30)))
sentry_sdk.init(
    dsn=_backend.replace("http://", "http://key@") + "/1",
    integrations=[AfterResponseIntegration(flush_timeout_s=30.0)],
)


@instrument(tracer_provider=provider, flush_timeout_ms=30_000)  # type: ignore[untyped-decorator]
def handler(event: Any, context: Any) -> dict[str, bool]:
    if event.get("fail"):
        raise ValueError("card declined")  # an event for Sentry to send
    return {"ok": True}
