"""The benchmark's FastAPI app: a hello route, a route that adds 200 ms of `BackgroundTasks` work, and a route that
returns a ~20 KB JSON document (compressed by the rows that ask for it). Served through this runtime's bridge
(bench_web_asgi.py, bench_web_asgi_compress.py) and through Mangum under awslambdaric (bench_web_mangum.py,
bench_web_mangum_gzip.py)."""

from __future__ import annotations

import asyncio
import os

from fastapi import BackgroundTasks, FastAPI

app = FastAPI()

#: The background task appends a line here once its 200 ms are over: the bench counts them (the proof it ran).
DONE_FILE = os.environ.get("BENCH_BG_DONE_FILE")

STATUSES = ("pending", "paid", "shipped", "delivered", "cancelled")
PRICES = (24.9, 8.45, 31.0, 4.99)

#: 100 orders as a database page would return them: the same keys in every record, values that vary.
ORDERS = [
    {
        "id": f"o-{1000 + i}",
        "customer": {"id": f"c-{(i * 37) % 500:04d}", "name": f"Customer {(i * 37) % 500}"},
        "status": STATUSES[i % len(STATUSES)],
        "currency": "EUR",
        "total": round(12.5 + (i * 7.31) % 180, 2),
        "created_at": f"2026-01-{1 + i % 28:02d}T{i % 24:02d}:{(i * 13) % 60:02d}:00Z",
        "items": [
            {"sku": f"SKU-{(i + k) % 40:04d}", "qty": 1 + (i + k) % 3, "unit_price": PRICES[(i + k) % len(PRICES)]}
            for k in range(1 + (i % 4 == 0))
        ],
    }
    for i in range(100)
]


@app.get("/hello")
async def hello() -> dict[str, str]:
    return {"message": "hello"}


@app.get("/wait")
async def wait() -> dict[str, str]:
    await asyncio.sleep(0.05)  # a database call: the multi-concurrency rows serve 16 of these at once
    return {"message": "waited"}


async def record_event() -> None:
    await asyncio.sleep(0.2)  # an analytics call, a metrics flush: 200 ms of waiting on the network
    if DONE_FILE:
        with open(DONE_FILE, "a") as done:
            done.write("done\n")


@app.get("/background")
async def background(tasks: BackgroundTasks) -> dict[str, str]:
    tasks.add_task(record_event)
    return {"message": "hello"}


@app.get("/orders")
async def orders() -> dict[str, object]:
    return {"orders": ORDERS, "count": len(ORDERS), "next_page": None}
