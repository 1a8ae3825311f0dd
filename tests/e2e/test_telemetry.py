"""Telemetry after the response (runtime.integrations), each with the real library and a loopback stand-in for its
backend: what the caller waits for, and when the telemetry leaves, on the test Runtime API's clock."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from emulator.server import LambdaApiServer, Timing
from tests.conftest import StartRuntime
from tests.support import Process, Recorder


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    endpoint = Recorder()
    yield endpoint
    endpoint.close()


def call(api: LambdaApiServer, event: dict[str, Any]) -> tuple[str, Any, Timing]:
    request_id = api.submit(json.dumps(event).encode())
    result = api.result(request_id)
    api.wait_ended(request_id)
    return request_id, result.json(), api.timing(request_id)


def shut_down(process: Process) -> None:
    """SIGTERM, as Lambda ends an environment: the libraries' own threads and exit handlers must not hold the exit."""
    process.popen.send_signal(signal.SIGTERM)
    assert process.wait() == 0, process.output()


def emf_lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{") and '"_aws"' in line]


def test_powertools_metrics_are_written_after_the_response_with_the_cold_start(
    api: LambdaApiServer, start: StartRuntime
) -> None:
    process = start("telemetry_powertools.handler")
    _, first, first_timing = call(api, {})
    _, second, second_timing = call(api, {})
    assert first == second == {"ok": True}
    marks = [mark.at for mark in api.marks("emf")]
    # Cold start + flush after the first response, the flush alone after the second; none before a response.
    assert len(marks) == 3
    assert all(first_timing.responded_at < at < first_timing.runtime_next_at for at in marks[:2])
    assert second_timing.responded_at < marks[2] < second_timing.runtime_next_at
    blobs = emf_lines(process.output())
    assert [sorted(key for key in blob if key not in ("_aws", "service", "function_name")) for blob in blobs] == [
        ["ColdStart"],
        ["OrdersPlaced"],
        ["OrdersPlaced"],
    ]
    assert blobs[0]["function_name"] == "test_function"
    shut_down(process)


def test_opentelemetry_spans_are_exported_after_the_response(
    api: LambdaApiServer, start: StartRuntime, recorder: Recorder
) -> None:
    process = start("telemetry_otel.handler", {"COLLECTOR_URL": recorder.url})
    exports = []
    for index, event in enumerate([{}, {"fail": True}]):
        request_id, _, timing = call(api, event)
        recorder.wait_for(index + 1)
        at, path, _, body = recorder.posts[index]
        assert path == "/v1/traces"
        assert timing.responded_at < at < timing.runtime_next_at  # the export left after the caller had its answer
        exports.append((request_id, ExportTraceServiceRequest.FromString(body)))
    for index, (request_id, export) in enumerate(exports):
        spans = [span for resource in export.resource_spans for scope in resource.scope_spans for span in scope.spans]
        assert sorted(span.name for span in spans) == ["load order", "test_function"]
        [invocation] = [span for span in spans if span.name == "test_function"]
        attributes = {attribute.key: attribute.value for attribute in invocation.attributes}
        assert attributes["faas.invocation_id"].string_value == request_id
        assert attributes["faas.coldstart"].bool_value is (index == 0)
        assert attributes["cloud.resource_id"].string_value.endswith(":function:test_function")
    [failed] = [
        s for r in exports[1][1].resource_spans for sc in r.scope_spans for s in sc.spans if s.name == "test_function"
    ]
    assert failed.status.code == 2 and "ValueError: order not found" in failed.status.message  # STATUS_CODE_ERROR
    assert [event.name for event in failed.events] == ["exception"]
    shut_down(process)


def test_sentry_captures_the_unhandled_error_and_sends_it_after_the_response(
    api: LambdaApiServer, start: StartRuntime, recorder: Recorder
) -> None:
    dsn = recorder.url.replace("http://", "http://public@") + "/1"
    process = start("telemetry_sentry.handler", {"SENTRY_DSN": dsn})
    call(api, {"order": "o-1"})  # no error, nothing to send
    request_id, document, timing = call(api, {"order": "o-2", "fail": True})
    assert document["errorType"] == "ValueError"  # the caller's error is the usual one
    recorder.wait_for(1)
    at, path, _, body = recorder.posts[0]
    assert path == "/api/1/envelope/"
    assert timing.responded_at < at < timing.runtime_next_at
    items = [json.loads(line) for line in body.splitlines() if line.startswith(b"{")]
    [event] = [item for item in items if "exception" in item]
    [exception] = event["exception"]["values"]
    assert (exception["type"], exception["value"]) == ("ValueError", "card declined")
    assert exception["mechanism"] == {"type": "aws_lambda", "handled": False}
    assert event["extra"]["lambda"]["aws_request_id"] == request_id
    assert event["transaction"] == "test_function"
    # This invocation's breadcrumb, not the previous one's.
    assert [crumb["message"] for crumb in event["breadcrumbs"]["values"]] == ["order o-2"]
    assert len(recorder.posts) == 1
    shut_down(process)


def test_flushes_to_a_backend_that_is_down_end_within_the_phases_time(
    api: LambdaApiServer, start: StartRuntime
) -> None:
    """Issue 21 item 5: each flush is capped at the time the phase has left, so the invocation ends before Lambda's
    deadline (no timeout, no cold start after it) and an export that did not finish is reported as failed."""
    import socket

    with socket.create_server(("127.0.0.1", 0), backlog=16) as blackhole:  # accepts (the backlog), never answers
        backend = f"http://127.0.0.1:{blackhole.getsockname()[1]}"
        process = start("telemetry_down.handler", {"BACKEND": backend, "AWS_LAMBDA_LOG_LEVEL": "INFO"})
        for event in ({"fail": True}, {}):
            request_id = api.submit(json.dumps(event).encode(), timeout_s=3.0)
            api.wait_ended(request_id, wait_s=20)
            # The runtime itself called /next: the invocation was not ended by its deadline.
            assert api.timing(request_id).runtime_next_at > 0
        output = process.output()
        assert "runtime.integrations.opentelemetry.flush failed: TimeoutError: the OpenTelemetry spans export" in output
        assert "Task timed out" not in output
        assert len(api.find("/invocation/next")) == 3  # one process served both: no reset, no cold start
        # (No clean-exit check: at exit the OpenTelemetry SDK's own atexit shutdown waits for its stuck export.)
