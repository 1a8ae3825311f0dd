"""A FastAPI app whose background tasks run after the response, through this runtime's ASGI bridge: the phase's
records name the tasks (tests/e2e/test_adoption.py). A module of its own, so that adoption.py's functions do not
import FastAPI."""

from __future__ import annotations

from fastapi import BackgroundTasks, FastAPI
from marks import mark  # type: ignore[import-not-found]  # tests/functions is the task root
from starlette.background import BackgroundTask
from starlette.responses import PlainTextResponse

from runtime.web import ASGIHandler

app = FastAPI()


def send_receipt(order: str) -> None:
    mark(f"receipt-{order}")


async def update_stats(order: str) -> None:
    mark(f"stats-{order}")


async def charge(order: str) -> None:
    raise RuntimeError(f"the card was declined for {order}")


@app.get("/one")
async def one(tasks: BackgroundTasks) -> dict[str, bool]:
    tasks.add_task(send_receipt, "one")
    return {"ok": True}


@app.get("/two")
async def two(tasks: BackgroundTasks) -> dict[str, bool]:
    tasks.add_task(send_receipt, "two")  # sync: Starlette runs it in its thread pool
    tasks.add_task(update_stats, "two")
    return {"ok": True}


@app.get("/fails")
async def fails(tasks: BackgroundTasks) -> dict[str, bool]:
    tasks.add_task(charge, "fails")
    return {"ok": True}


@app.get("/response-task")
async def response_task() -> PlainTextResponse:
    # Starlette's own way: the response carries the task, no FastAPI injection.
    return PlainTextResponse("ok", background=BackgroundTask(update_stats, "response-task"))


@app.get("/none")
async def none() -> dict[str, bool]:
    return {"ok": True}


handler = ASGIHandler(app, lifespan="off")
