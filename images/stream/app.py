"""A streamed response behind a Function URL (invoke mode RESPONSE_STREAM): server-sent events, each on the wire as
it is made, then an after-response hook that runs once the caller has the last byte.

`GET <function url>?count=5` answers `200 text/event-stream` at once and sends `count` events (1-50, default 5),
one every 0.2 s:

    data: {"n": 0, "of": 5}

The handler returns a `StreamingResponse`, whose HTTP prelude (status, headers) is what a Function URL in
RESPONSE_STREAM mode reads first (README "Streaming"). The hook logs what went out (`invocation.streamed`): it runs
in the same invocation, after the stream's end, and is billed like the handler. Deploy it with
`InvokeMode: RESPONSE_STREAM` (deploy/sam/template.yaml, deploy/cdk/app.py).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

from runtime import Invocation, after_response
from runtime.streaming import StreamingResponse

INTERVAL_S = 0.2
MAX_COUNT = 50
log = logging.getLogger("stream")
log.setLevel(logging.INFO)


def requested_count(event: Any) -> int:
    """`count` from the query string of a Function URL request (payload 2.0); 5 when absent or not a number."""
    query = event.get("queryStringParameters") if isinstance(event, dict) else None
    try:
        count = int((query or {}).get("count", 5))
    except (TypeError, ValueError):
        count = 5
    return max(1, min(count, MAX_COUNT))


def events(count: int) -> Iterator[str]:
    for n in range(count):
        if n:
            time.sleep(INTERVAL_S)  # the events already sent are with the caller meanwhile
        yield f"data: {json.dumps({'n': n, 'of': count})}\n\n"


def handler(event: Any, context: Any) -> StreamingResponse:
    return StreamingResponse(
        events(requested_count(event)),
        status_code=200,
        content_type="text/event-stream",
        headers={"cache-control": "no-cache"},
    )


@after_response
def report(invocation: Invocation) -> None:
    streamed = invocation.streamed
    if streamed is not None:
        log.info("streamed %d chunks, %d bytes, complete: %s", streamed.chunks, streamed.bytes_sent, streamed.complete)
