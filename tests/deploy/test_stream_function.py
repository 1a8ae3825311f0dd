"""The streaming function the templates deploy (images/stream/app.py, StreamFunction), run by the real bootstrap
against the project's emulator: what a Function URL in RESPONSE_STREAM mode would read (the HTTP prelude, then each
event as it is made), and the after-response hook once the last byte is out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from emulator.server import LambdaApiServer
from tests.support import ROOT, Process, base_env, runtime_command

FUNCTION_DIR = ROOT / "images" / "stream"
PRELUDE_SEPARATOR = b"\0" * 8


@pytest.fixture
def function(api: LambdaApiServer) -> Iterator[Process]:
    env = base_env({"AWS_LAMBDA_RUNTIME_API": api.address}, task_root=FUNCTION_DIR)
    process = Process(runtime_command("app.handler"), env, cwd=FUNCTION_DIR)
    yield process
    print(f"--- output of pid {process.pid} ---\n{process.output()}")
    process.stop()


def test_the_stream_function_sends_each_event_as_it_is_made(api: LambdaApiServer, function: Process) -> None:
    event: dict[str, Any] = {"version": "2.0", "rawPath": "/", "queryStringParameters": {"count": "3"}}
    request_id = api.submit(json.dumps(event).encode())
    result = api.result(request_id)
    api.wait_ended(request_id)
    assert result.streamed
    assert result.headers["content-type"] == "application/vnd.awslambda.http-integration-response"
    prelude, _, body = result.body.partition(PRELUDE_SEPARATOR)
    assert json.loads(prelude) == {
        "statusCode": 200,
        "headers": {"cache-control": "no-cache", "content-type": "text/event-stream"},
    }
    assert body == b"".join(f'data: {{"n": {n}, "of": 3}}\n\n'.encode() for n in range(3))
    # The prelude and the events arrived one chunk at a time, the events 0.2 s apart: streamed, not buffered.
    arrivals = [at for at, _ in result.chunks]
    assert len(arrivals) == 4
    assert arrivals[2] - arrivals[1] > 0.15 and arrivals[3] - arrivals[2] > 0.15
    # The hook ran in the same invocation and saw the whole stream, ended and taken by the API (complete).
    output = function.wait_output(f"streamed 4 chunks, {len(result.body)} bytes, complete: True")
    assert "after-response: 1 ran, 0 failed" in output
    # A count out of bounds is clamped (1-50): the next invocation of the same environment sends one event.
    event["queryStringParameters"] = {"count": "0"}
    request_id = api.submit(json.dumps(event).encode())
    assert api.result(request_id).body.endswith(PRELUDE_SEPARATOR + b'data: {"n": 0, "of": 1}\n\n')
