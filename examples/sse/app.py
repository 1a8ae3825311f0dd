"""Server-sent events from a FastAPI app, streamed through a Function URL or an API Gateway REST API.

The function streams (`invoke_mode="response_stream"`): each event reaches the browser when the app sends it,
gzip- or brotli-compressed part by part when the browser accepts it (`compress=True`), and the background task runs
after the last byte, in the after-response phase. README.md shows the two configurations.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

from fastapi import BackgroundTasks, FastAPI
from fastapi.responses import StreamingResponse

from runtime.web import ASGIHandler

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)
app = FastAPI()


async def record_stream(count: int) -> None:
    """After the stream: the caller has every event by now."""
    logger.info("sent %d events", count)


@app.get("/ticks")
async def ticks(tasks: BackgroundTasks, count: int = 3, every_ms: int = 100) -> StreamingResponse:
    async def events() -> AsyncIterator[str]:
        for n in range(count):
            if n:
                await asyncio.sleep(every_ms / 1000)
            yield f"id: {n}\nevent: tick\ndata: {json.dumps({'n': n})}\n\n"

    tasks.add_task(record_stream, count)
    headers = {"cache-control": "no-cache", "x-accel-buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers, background=tasks)


handler = ASGIHandler(app, invoke_mode="response_stream", compress=True)
