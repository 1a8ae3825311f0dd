"""OpenTelemetry through runtime.integrations.opentelemetry: spans exported (OTLP/HTTP to COLLECTOR_URL) after the
response."""

from __future__ import annotations

import os
from typing import Any

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from runtime.integrations.opentelemetry import instrument

provider = TracerProvider(resource=Resource.create({"service.name": "orders"}))
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=os.environ["COLLECTOR_URL"] + "/v1/traces")))
trace.set_tracer_provider(provider)
tracer = trace.get_tracer("orders")


@instrument
def handler(event: Any, context: Any) -> dict[str, bool]:
    with tracer.start_as_current_span("load order"):
        if event.get("fail"):
            raise ValueError("order not found")
    return {"ok": True}
