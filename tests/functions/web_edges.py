"""Plain ASGI and WSGI apps (no framework) for the web bridge's edge cases: a lifespan that hangs, and requests whose
header values are not strings.

WEB_HANG=startup: the lifespan startup never answers. WEB_HANG=shutdown: the lifespan shutdown never answers; the
`@on_shutdown` hook registered after the handler must still run.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Iterable
from typing import Any

from marks import mark  # type: ignore[import-not-found]  # tests/functions is the task root

from runtime import on_shutdown
from runtime.web import ASGIHandler, WSGIHandler

HANG = os.environ.get("WEB_HANG", "")


async def app(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if HANG == "startup":
                    mark("lifespan-startup-hangs")
                    await asyncio.Event().wait()
                await send({"type": "lifespan.startup.complete"})
            else:
                if HANG == "shutdown":
                    print("lifespan shutdown hangs", flush=True)
                    await asyncio.Event().wait()
                await send({"type": "lifespan.shutdown.complete"})
                return
    await receive()
    seen = [[name.decode(), value.decode()] for name, value in scope["headers"]]
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": json.dumps(seen).encode()})


def wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    seen = sorted([key, value] for key, value in environ.items() if key.startswith("HTTP_"))
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(seen).encode()]


asgi = ASGIHandler(app)
wsgi = WSGIHandler(wsgi_app)


@on_shutdown
def after_the_app() -> None:
    print("the shutdown hook after the app ran", flush=True)
