"""The web bridge through the real bootstrap: what runs before the response, what after, and the lifespan.

Order and causality come from the test Runtime API's clock: when `/response` arrived, when the app's background work
marked its start and end, and when the runtime asked for the next invocation.
"""

from __future__ import annotations

import json
import signal
from typing import Any

import pytest

from emulator.server import LambdaApiServer
from tests.conftest import StartRuntime
from tests.support import ROOT
from tests.web import get, recorded

SLEEP_MS = 300


def call(api: LambdaApiServer, event: Any) -> tuple[str, dict[str, Any]]:
    request_id = api.submit(json.dumps(event).encode())
    result = api.result(request_id).json()
    api.wait_ended(request_id)
    assert isinstance(result, dict)
    return request_id, result


@pytest.mark.parametrize("sync", [False, True], ids=["async-task", "sync-task-in-a-thread"])
def test_background_tasks_run_after_the_response_and_before_next(
    api: LambdaApiServer, start: StartRuntime, sync: bool
) -> None:
    process = start("web_asgi.handler")
    query = f"ms={SLEEP_MS}" + ("&sync=true" if sync else "")
    request_id, result = call(api, get("/background", query))
    assert (result["statusCode"], json.loads(result["body"])) == (200, {"message": "accepted"})
    timing = api.timing(request_id)
    [started] = api.marks("background-start")
    [ended] = api.marks("background-end")
    # The caller had the response before the task began; the environment ran until the task was done.
    assert timing.responded_at < started.at < ended.at < timing.runtime_next_at
    assert ended.at - started.at >= SLEEP_MS / 1000 * 0.9
    # The phase's summary names the app's background task.
    assert f"web_fastapi.{'block_then_mark' if sync else 'sleep_then_mark'} ok" in process.output()


def test_flask_call_on_close_runs_after_the_response(api: LambdaApiServer, start: StartRuntime) -> None:
    start("web_wsgi.handler")
    request_id, result = call(api, get("/on-close", f"ms={SLEEP_MS}"))
    assert (result["statusCode"], result["body"]) == (200, "accepted")
    timing = api.timing(request_id)
    [started] = api.marks("on-close-start")
    [ended] = api.marks("on-close-end")
    assert timing.responded_at < started.at < ended.at < timing.runtime_next_at


def test_django_request_finished_runs_after_the_response(api: LambdaApiServer, start: StartRuntime) -> None:
    start("web_django.handler")
    request_id, result = call(api, get("/hello"))
    assert (result["statusCode"], json.loads(result["body"])) == (200, {"message": "hello", "path": "/hello"})
    timing = api.timing(request_id)
    [started] = api.marks("request-finished-start")
    [ended] = api.marks("request-finished-end")
    assert timing.responded_at < started.at < ended.at < timing.runtime_next_at


def test_lifespan_starts_once_and_shuts_down_on_sigterm(api: LambdaApiServer, start: StartRuntime) -> None:
    process = start("web_asgi.handler")
    seen = [json.loads(call(api, get("/lifespan"))[1]["body"]) for _ in range(3)]
    # One startup for the environment, not one per invocation (Mangum's), and its state reaches each request.
    assert seen == [{"startups": 1, "shutdowns": 0, "state": ["started_at"]}] * 3
    process.popen.send_signal(signal.SIGTERM)
    assert process.wait() == 0
    output = process.output()
    assert "lifespan shutdown ran" in output
    assert "shutdown: running asgi lifespan shutdown" in output


def test_a_failing_lifespan_startup_is_an_init_error(api: LambdaApiServer, start: StartRuntime) -> None:
    process = start("web_asgi.handler", {"WEB_LIFESPAN_FAIL": "1"})
    api.wait_for(lambda: api.init_error() is not None)
    error = api.init_error()
    assert error is not None
    document = error.json()
    # The app's own exception, its trace through the app's lifespan code, as if it had failed at import.
    assert (document["errorType"], document["errorMessage"]) == ("RuntimeError", "the database is unreachable")
    assert any("web_fastapi.py" in frame and "in lifespan" in frame for frame in document["stackTrace"])
    assert process.wait() != 0


def test_a_background_task_that_fails_is_reported_by_the_phase(api: LambdaApiServer, start: StartRuntime) -> None:
    process = start("web_asgi.handler")
    _, result = call(api, get("/background-fails"))
    assert result["statusCode"] == 200  # the caller's response stands
    output = process.output()
    name = "web_fastapi.background_fails.<locals>.fail"  # the app's background task, not the bridge
    assert f"after-response: {name} failed: RuntimeError: the background task failed" in output


def test_a_route_that_raises_answers_500_and_logs_the_error(api: LambdaApiServer, start: StartRuntime) -> None:
    process = start("web_asgi.handler")
    _, result = call(api, get("/raises"))
    assert (result["statusCode"], result["body"]) == (500, "Internal Server Error")
    # Starlette answers 500, then raises again: the error surfaces once, with its trace, in the phase.
    assert process.output().count("ValueError: the route failed") >= 1
    _, again = call(api, get("/hello"))  # and the next request is served as usual
    assert json.loads(again["body"]) == {"message": "hello"}


def test_an_event_that_is_not_http_is_a_clear_error(api: LambdaApiServer, start: StartRuntime) -> None:
    start("web_asgi.handler")
    request_id = api.submit(json.dumps({"Records": []}).encode())
    result = api.result(request_id)
    assert result.kind == "error"
    document = result.json()
    assert document["errorType"] == "UnsupportedEvent"
    assert "not an HTTP request from API Gateway, a Function URL, an ALB or Lambda@Edge" in document["errorMessage"]


def test_a_streaming_response_goes_out_part_by_part_with_response_stream(
    api: LambdaApiServer, start: StartRuntime
) -> None:
    start("web_asgi.handler", {"RUNTIME_INVOKE_MODE": "response_stream"})
    request_id = api.submit(json.dumps(get("/stream")).encode())
    result = api.result(request_id)
    api.wait_ended(request_id)
    assert result.streamed
    assert result.headers["content-type"] == "application/vnd.awslambda.http-integration-response"
    prelude, _, body = result.body.partition(b"\0" * 8)
    assert json.loads(prelude)["statusCode"] == 200
    assert json.loads(prelude)["headers"]["content-type"] == "text/plain; charset=utf-8"
    assert body == b"part 0\npart 1\npart 2\n"
    arrivals = [at for at, _ in result.chunks]  # the prelude, then each part
    [slept_1] = api.marks("stream-slept-1")
    [slept_2] = api.marks("stream-slept-2")
    assert arrivals[1] < slept_1.at < arrivals[2] < slept_2.at < arrivals[3]
    # The background task runs after the last byte, in the phase.
    [background] = api.marks("stream-background")
    timing = api.timing(request_id)
    assert timing.responded_at < background.at < timing.runtime_next_at


def test_a_flask_response_iterable_streams_with_response_stream(api: LambdaApiServer, start: StartRuntime) -> None:
    start("web_wsgi.handler", {"RUNTIME_INVOKE_MODE": "response_stream"})
    request_id = api.submit(json.dumps(get("/stream")).encode())
    result = api.result(request_id)
    api.wait_ended(request_id)
    assert result.streamed
    prelude, _, body = result.body.partition(b"\0" * 8)
    assert json.loads(prelude)["headers"]["content-type"] == "text/plain; charset=utf-8"
    assert body == b"part 0\npart 1\npart 2\n"
    arrivals = [at for at, _ in result.chunks]  # the prelude and the first part, then each part
    [slept_1] = api.marks("flask-slept-1")
    [slept_2] = api.marks("flask-slept-2")
    assert arrivals[1] < slept_1.at < arrivals[2] < slept_2.at < arrivals[3]
    [closed] = api.marks("flask-closed")
    timing = api.timing(request_id)
    assert timing.responded_at < closed.at < timing.runtime_next_at


def test_an_error_status_response_is_posted_as_an_invocation_error_and_its_work_still_runs_after(
    api: LambdaApiServer, start: StartRuntime
) -> None:
    start("web_asgi.errors")
    request_id = api.submit(json.dumps(get("/status/503")).encode())
    result = api.result(request_id)
    api.wait_ended(request_id)
    assert result.kind == "error"
    document = result.json()
    assert document["errorType"] == "ErrorStatusResponse"
    response = json.loads(document["errorMessage"])  # the response the service would have had
    assert (response["statusCode"], response["body"]) == (503, "status 503")
    [background] = api.marks("status-background")
    timing = api.timing(request_id)
    assert timing.responded_at < background.at < timing.runtime_next_at
    # A status outside the set is a response.
    _, ok = call(api, get("/status/404"))
    assert (ok["statusCode"], ok["body"]) == (404, "status 404")


def test_an_event_that_is_no_http_request_is_posted_to_the_app_with_other_events(
    api: LambdaApiServer, start: StartRuntime
) -> None:
    start("web_asgi.events")
    sqs = {"Records": [{"eventSource": "aws:sqs", "messageId": "m1", "body": "a"}, {"messageId": "m2", "body": "b"}]}
    _, result = call(api, sqs)
    assert result == {"received": ["m1", "m2"]}


@pytest.mark.parametrize("source", ["function-url", "rest"])
def test_the_sse_example_streams_each_event_as_it_is_sent(
    api: LambdaApiServer, start: StartRuntime, source: str
) -> None:
    import zlib

    example = ROOT / "examples" / "sse"
    process = start("app.handler", {"LAMBDA_TASK_ROOT": str(example), "PYTHONPATH": f"{example}:{ROOT}"})
    if source == "rest":
        event = recorded("rest-get")
        event["path"] = "/ticks"
        event["multiValueQueryStringParameters"] = {"count": ["3"], "every_ms": ["50"]}
        event["multiValueHeaders"]["Accept-Encoding"] = ["gzip, deflate"]
    else:
        event = get("/ticks", "count=3&every_ms=50")
        event["headers"]["accept-encoding"] = "gzip, deflate"
    request_id = api.submit(json.dumps(event).encode())
    result = api.result(request_id)
    api.wait_ended(request_id)
    assert result.streamed
    prelude, _, _ = result.body.partition(b"\0" * 8)
    headers = json.loads(prelude)["headers"]
    assert (headers["content-type"], headers["content-encoding"]) == ("text/event-stream; charset=utf-8", "gzip")
    # Each event is one part, compressed and flushed on its own: decoding the parts in arrival order gives one whole
    # event per part (then the gzip trailer), so a browser reads each event when it arrives.
    pieces, offset = [], 0
    for _, size in result.chunks:
        pieces.append(result.body[offset : offset + size])
        offset += size
    assert pieces[0] == prelude + b"\0" * 8  # the prelude is a part of its own
    decoder = zlib.decompressobj(31)
    parts = [decoder.decompress(piece) for piece in pieces[1:]]
    assert [part for part in parts if part] == [
        f'id: {n}\nevent: tick\ndata: {{"n": {n}}}\n\n'.encode() for n in range(3)
    ]
    assert "sent 3 events" in process.output()
