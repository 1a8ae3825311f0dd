"""Response streaming through the real bootstrap, against the project's emulator, which records when each chunk of
the streamed POST arrived: chunk timing against the handler's own marks, the prelude bytes, the error trailers, a
10 MB stream, and the phase after the last byte."""

from __future__ import annotations

import base64
import json

import pytest

from emulator.server import LambdaApiServer, Result, Timing
from tests.conftest import StartRuntime

PRELUDE_SEPARATOR = b"\0" * 8


def call(api: LambdaApiServer, start: StartRuntime, handler: str) -> tuple[Result, Timing, str]:
    start(handler)
    request_id = api.submit(b"{}")
    result = api.result(request_id)
    api.wait_ended(request_id)
    return result, api.timing(request_id), request_id


@pytest.mark.parametrize("handler", ["streams.slow", "streams.slow_async"])
def test_chunks_go_out_as_they_are_made(api: LambdaApiServer, start: StartRuntime, handler: str) -> None:
    result, timing, _ = call(api, start, handler)
    assert result.streamed and result.body == b"chunk 0\nchunk 1\nchunk 2\n"
    assert result.headers["content-type"] == "application/octet-stream"
    [first_sleep_over] = api.marks("slept-1")
    [second_sleep_over] = api.marks("slept-2")
    arrivals = [at for at, _ in result.chunks]
    # Each chunk was on the wire before the sleep after it ended: streamed, not buffered.
    assert arrivals[0] < first_sleep_over.at < arrivals[1] < second_sleep_over.at < arrivals[2]
    # The phase starts after the last byte, and sees what was streamed.
    [streamed] = api.marks("streamed-3-24")
    assert timing.responded_at < streamed.at < timing.runtime_next_at


def test_a_streaming_response_starts_with_the_http_prelude(api: LambdaApiServer, start: StartRuntime) -> None:
    result, _, _ = call(api, start, "streams.with_prelude")
    assert result.headers["content-type"] == "application/vnd.awslambda.http-integration-response"
    prelude, _, body = result.body.partition(PRELUDE_SEPARATOR)
    assert json.loads(prelude) == {
        "statusCode": 201,
        "headers": {"x-app": "1", "content-type": "text/html"},
        "cookies": ["a=1"],
    }
    assert body == b"<p>hello</p>"


def test_an_error_after_the_first_byte_ends_the_stream_with_the_error_trailers(
    api: LambdaApiServer, start: StartRuntime
) -> None:
    result, _, request_id = call(api, start, "streams.fails_midway")
    assert result.kind == "response" and result.body == b"partial "
    assert result.headers["trailer"] == "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body"
    assert result.trailers["lambda-runtime-function-error-type"] == "Function.ValueError"
    document = json.loads(base64.b64decode(result.trailers["lambda-runtime-function-error-body"]))
    assert (document["errorType"], document["errorMessage"], document["requestId"]) == (
        "ValueError",
        "the export broke",
        request_id,
    )


def test_an_error_before_the_first_byte_is_an_ordinary_error(api: LambdaApiServer, start: StartRuntime) -> None:
    result, _, _ = call(api, start, "streams.fails_first")
    assert result.kind == "error" and result.json()["errorType"] == "KeyError"
    assert not result.streamed


def test_ten_megabytes_stream_past_the_buffered_limit(api: LambdaApiServer, start: StartRuntime) -> None:
    result, _, _ = call(api, start, "streams.large")
    assert len(result.body) == 10 * 1024 * 1024 and len(result.chunks) == 10
    assert api.marks(f"streamed-10-{10 * 1024 * 1024}")


def test_the_writer_style_code_after_close_runs_after_the_whole_response(
    api: LambdaApiServer, start: StartRuntime
) -> None:
    result, timing, _ = call(api, start, "streams.writer")
    _, _, body = result.body.partition(PRELUDE_SEPARATOR)
    assert body == b"first second"
    [after_close] = api.marks("after-close")
    [after_close_end] = api.marks("after-close-end")
    assert timing.responded_at < after_close.at < after_close_end.at < timing.runtime_next_at
