"""The Flask app of the web bridge's tests, served by web_wsgi.py (this runtime) and web_apig.py (apig-wsgi)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator

from flask import Flask, Response, request
from marks import mark  # type: ignore[import-not-found]  # tests/functions is the task root

app = Flask(__name__)


@app.get("/hello")
def hello() -> dict[str, str]:
    return {"message": "hello"}


@app.get("/on-close")
def on_close() -> Response:
    """Werkzeug runs `call_on_close` callbacks when the server closes the response."""
    ms = int(request.args.get("ms", "300"))
    response = Response("accepted")

    @response.call_on_close
    def after() -> None:
        mark("on-close-start")
        time.sleep(ms / 1000)
        mark("on-close-end")

    return response


@app.get("/stream")
def stream() -> Response:
    """Three parts 300 ms apart: with RUNTIME_INVOKE_MODE=response_stream each goes out as it is yielded, and the
    response's close() (call_on_close) runs after the last byte."""

    def parts() -> Iterator[str]:
        for index in range(3):
            if index:
                time.sleep(0.3)
                mark(f"flask-slept-{index}")
            yield f"part {index}\n"

    response = Response(parts(), mimetype="text/plain")
    response.call_on_close(lambda: mark("flask-closed"))
    return response


@app.route("/", defaults={"path": ""}, methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
@app.route("/<path:path>", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
def echo(path: str) -> Response:
    """What the app saw of the request, for the differential tests; uploads come back as they were sent."""
    body = request.get_data()
    if path.startswith("upload"):
        response = Response(body, content_type=request.headers.get("content-type"))
    else:
        seen = {
            "method": request.method,
            "path": request.path,
            "script_root": request.script_root,
            "url": request.url,
            "query": sorted(request.args.items(multi=True)),
            "headers": {
                name: request.headers.getlist(name)
                for name in ("host", "cookie", "content-type", "accept", "x-forwarded-for", "user-agent")
            },
            "cookies": dict(request.cookies),
            "remote_addr": request.remote_addr,
            "body": body.decode() if body.isascii() else base64.b64encode(body).decode(),
        }
        response = Response(json.dumps(seen, sort_keys=True), content_type="application/json")
    response.set_cookie("first", "1")
    response.set_cookie("second", "2", httponly=True)
    response.headers.add("x-repeated", "a")
    response.headers.add("x-repeated", "b")
    return response
