"""The FastAPI app of the web bridge's tests, served by web_asgi.py (this runtime) and web_mangum.py (Mangum)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import BackgroundTasks, FastAPI, Request, Response
from fastapi.responses import StreamingResponse
from marks import mark  # type: ignore[import-not-found]  # tests/functions is the task root
from starlette.background import BackgroundTask

LIFESPAN = {"startups": 0, "shutdowns": 0}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    LIFESPAN["startups"] += 1
    if os.environ.get("WEB_LIFESPAN_FAIL"):
        raise RuntimeError("the database is unreachable")
    yield {"started_at": time.time()}
    LIFESPAN["shutdowns"] += 1
    print("lifespan shutdown ran", flush=True)


app = FastAPI(lifespan=lifespan)


@app.get("/hello")
async def hello() -> dict[str, str]:
    return {"message": "hello"}


@app.get("/lifespan")
async def lifespan_counts(request: Request) -> dict[str, Any]:
    return {**LIFESPAN, "state": sorted(request.state._state)}


async def sleep_then_mark(ms: int, label: str) -> None:
    mark(f"{label}-start")
    await asyncio.sleep(ms / 1000)
    mark(f"{label}-end")


def block_then_mark(ms: int, label: str) -> None:
    mark(f"{label}-start")
    time.sleep(ms / 1000)
    mark(f"{label}-end")


@app.get("/background")
async def background(tasks: BackgroundTasks, ms: int = 300, sync: bool = False) -> dict[str, str]:
    # A sync background task runs in a worker thread (Starlette's thread pool), an async one on the event loop.
    tasks.add_task(block_then_mark if sync else sleep_then_mark, ms, "background")
    return {"message": "accepted"}


@app.get("/background-fails")
async def background_fails(tasks: BackgroundTasks) -> dict[str, str]:
    async def fail() -> None:
        raise RuntimeError("the background task failed")

    tasks.add_task(fail)
    return {"message": "accepted"}


@app.get("/raises")
async def raises() -> None:
    raise ValueError("the route failed")


@app.get("/no-content", status_code=204)
async def no_content() -> Response:
    return Response(status_code=204)


@app.get("/stream")
async def stream() -> StreamingResponse:
    """Three parts 300 ms apart, then a background task: with RUNTIME_INVOKE_MODE=response_stream each part goes out
    as it is made, and the task runs after the last byte."""

    async def parts() -> AsyncIterator[bytes]:
        for index in range(3):
            if index:
                await asyncio.sleep(0.3)
                mark(f"stream-slept-{index}")
            yield f"part {index}\n".encode()

    return StreamingResponse(parts(), media_type="text/plain", background=BackgroundTask(mark, "stream-background"))


@app.get("/status/{code}")
async def status(code: int, tasks: BackgroundTasks) -> Response:
    """A response with any status, and work after it (error_status_codes)."""
    tasks.add_task(mark, "status-background")
    return Response(f"status {code}", status_code=code, media_type="text/plain", background=tasks)


@app.post("/events")
async def events(request: Request) -> dict[str, Any]:
    """Where other_events=True posts an event that is no HTTP request (an SQS batch here)."""
    event = await request.json()
    return {"received": [record["messageId"] for record in event["Records"]]}


@app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
async def echo(request: Request, path: str) -> Response:
    """What the app saw of the request, for the differential tests; uploads come back as they were sent."""
    body = await request.body()
    if path.startswith("upload"):
        response: Response = Response(body, media_type=request.headers.get("content-type"))
    else:
        seen = {
            "method": request.method,
            "path": request.url.path,
            "route": path,
            "root_path": request.scope.get("root_path", ""),
            "url": str(request.url),
            "query": request.query_params.multi_items(),
            "headers": {
                name: request.headers.getlist(name)
                for name in ("host", "cookie", "content-type", "accept", "x-forwarded-for", "user-agent")
            },
            "cookies": request.cookies,
            "client": request.client.host if request.client else None,
            "body": body.decode() if body.isascii() else base64.b64encode(body).decode(),
        }
        response = Response(json.dumps(seen, sort_keys=True), media_type="application/json")
    response.set_cookie("first", "1")
    response.set_cookie("second", "2", httponly=True)
    response.headers.append("x-repeated", "a")
    response.headers.append("x-repeated", "b")
    return response
