"""The benchmark's FastAPI app: a hello route, and one that adds 200 ms of `BackgroundTasks` work. Served through
this runtime's bridge (bench_web_asgi.py) and through Mangum under awslambdaric (bench_web_mangum.py)."""

from __future__ import annotations

import asyncio

from fastapi import BackgroundTasks, FastAPI

app = FastAPI()


@app.get("/hello")
async def hello() -> dict[str, str]:
    return {"message": "hello"}


async def record_event() -> None:
    await asyncio.sleep(0.2)  # an analytics call, a metrics flush: 200 ms of waiting on the network


@app.get("/background")
async def background(tasks: BackgroundTasks) -> dict[str, str]:
    tasks.add_task(record_event)
    return {"message": "hello"}
