"""The same FastAPI and Flask apps through their usual adapters under awslambdaric (Mangum, apig-wsgi) and through
this runtime's bridge, both under the real RIE, on every event of the corpus (tests/web/events).

What a caller would get is compared: status, headers (names are case-insensitive: compared lower-case, single- and
multi-value maps and `cookies` merged), whether the body is base64, the body's bytes, and, field by field, what the
app saw of the request (the test apps echo it as JSON). Each case must differ in exactly the fields listed in
DIFFERENCES: a new difference fails, and so does a listed one that went away. docs/web.md explains each.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.rie import Call, request, run
from tests.web import CORPUS, get, recorded

pytestmark = pytest.mark.rie

BASE_PATH_EVENT = "rest-base-path"
# (bridge handler, reference handler): ours under bootstrap, the reference under awslambdaric.
APPS = {
    "fastapi": (("web_asgi.handler", "web_mangum.handler"), ("web_asgi.base_path", "web_mangum.base_path")),
    # apig-wsgi has no base path setting: its handler is compared with ours configured for the mapping.
    "flask": (("web_wsgi.handler", "web_apig.handler"), ("web_wsgi.base_path", "web_apig.handler")),
}

_V2_JOIN = {"headers.x-repeated"}  # apig-wsgi keeps the last of a repeated header in payload 2.0; ours joins them
_V2_COOKIE = {"app.headers"}  # apig-wsgi joins 2.0's cookies with ";" and sends an empty Cookie header without any
_ALB_SINGLE = {"headers.set-cookie", "headers.x-repeated"}  # apig-wsgi keeps one value per header name
_ALB_QUERY = {"app.url"}  # the same decoded query, spelled "+" (Mangum's encoding) where apig-wsgi keeps "%20"

DIFFERENCES: dict[tuple[str, str], set[str]] = {
    # The custom domain's base path is the app's root_path / SCRIPT_NAME: url_for and request.url keep it.
    ("fastapi", BASE_PATH_EVENT): {"app.path", "app.root_path", "app.url"},
    ("flask", BASE_PATH_EVENT): {"app.path", "app.script_root"},
    ("flask", "alb-get"): _ALB_SINGLE | _ALB_QUERY,
    ("flask", "alb-post-binary"): _ALB_SINGLE,
    # Two Cookie headers: apig-wsgi joins them with "," into one broken cookie; ours with "; ".
    ("flask", "alb-multi-get"): {"app.cookies", "app.headers"} | _ALB_QUERY,
    ("flask", "function-url-post-json"): _V2_JOIN | _V2_COOKIE,
    ("flask", "http-v2-encoded-path"): _V2_JOIN | _V2_COOKIE,
    ("flask", "http-v2-get"): _V2_JOIN | _V2_COOKIE,
    ("flask", "http-v2-post-binary"): _V2_JOIN,
    ("flask", "http-v2-post-text"): _V2_JOIN | _V2_COOKIE,
    # apig-wsgi's REST default (binary_support off) decodes a binary body as UTF-8 and fails: ours sends base64.
    ("flask", "rest-post-binary"): {"reference failed"},
}


@functools.cache
def pairs(app: str) -> dict[str, tuple[Call, Call]]:
    """{event: (ours, reference)}: one RIE per (runtime, handler), all side by side."""
    plain = [name for name in CORPUS if name != BASE_PATH_EVENT]
    with ThreadPoolExecutor(max_workers=4) as pool:
        jobs = [
            (
                names,
                pool.submit(run, ours, "bootstrap", [request(name, recorded(name)) for name in names]),
                pool.submit(run, reference, "awslambdaric", [request(name, recorded(name)) for name in names]),
            )
            for (ours, reference), names in zip(APPS[app], (plain, [BASE_PATH_EVENT]), strict=True)
        ]
        return {
            name: (a, b)
            for names, ours_job, reference_job in jobs
            for name, a, b in zip(names, ours_job.result().calls, reference_job.result().calls, strict=True)
        }


def normal(call: Call) -> dict[str, Any]:
    """What the caller of the API gets, field by field."""
    assert call.status == 200, call.body
    result = json.loads(call.body)
    if "errorType" in result:
        return {"failed": result["errorType"]}
    headers: dict[str, list[str]] = {}
    for name, value in (result.get("headers") or {}).items():
        headers.setdefault(name.lower(), []).append(value)
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers.setdefault(name.lower(), []).extend(values)
    if result.get("cookies"):
        headers.setdefault("set-cookie", []).extend(result["cookies"])
    body = base64.b64decode(result["body"]) if result.get("isBase64Encoded") else result["body"].encode()
    fields: dict[str, Any] = {
        "status": result["statusCode"],
        "base64": bool(result.get("isBase64Encoded")),
    }
    for name, values in headers.items():
        if name != "content-length":  # follows the body, compared below
            fields[f"headers.{name}"] = sorted(values)
    if headers.get("content-type") == ["application/json"] and body:
        for key, value in json.loads(body).items():
            fields[f"app.{key}"] = value
    else:
        fields["body"] = body
    return fields


def differing(ours: Mapping[str, Any], reference: Mapping[str, Any]) -> set[str]:
    if "failed" in reference and "failed" not in ours:
        return {"reference failed"}
    return {key for key in ours.keys() | reference.keys() if ours.get(key) != reference.get(key)}


@pytest.mark.parametrize("event", CORPUS)
@pytest.mark.parametrize("app", sorted(APPS))
def test_the_bridge_answers_as_the_usual_adapter(app: str, event: str) -> None:
    ours, reference = (normal(call) for call in pairs(app)[event])
    assert "failed" not in ours, ours
    assert differing(ours, reference) == DIFFERENCES.get((app, event), set()), (ours, reference)


def test_the_comparison_sees_what_the_apps_saw() -> None:
    """The echo reaches the comparison: a request's path and a binary body are compared, not skipped."""
    ours, _ = (normal(call) for call in pairs("fastapi")["http-v2-encoded-path"])
    assert ours["app.path"] == "/files/a b" and ours["app.query"] == [["q", "café"], ["x", "1+2"]]
    upload, _ = (normal(call) for call in pairs("fastapi")["http-v2-post-binary"])
    assert upload["base64"] and upload["body"] == bytes.fromhex("00010203feff807f")
    assert upload["headers.set-cookie"] == ["first=1; Path=/; SameSite=lax", "second=2; HttpOnly; Path=/; SameSite=lax"]


def test_lifespan_runs_once_here_and_per_invocation_under_mangum() -> None:
    requests = [request(f"lifespan-{i}", get("/lifespan")) for i in range(3)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        ours_job = pool.submit(run, "web_asgi.handler", "bootstrap", requests)
        reference_job = pool.submit(run, "web_mangum.handler", "awslambdaric", requests)
        ours, reference = ours_job.result(), reference_job.result()
    counts = {
        side: [json.loads(json.loads(call.body)["body"])["startups"] for call in result.calls]
        for side, result in (("ours", ours), ("mangum", reference))
    }
    assert counts == {"ours": [1, 1, 1], "mangum": [1, 2, 3]}


def test_a_response_without_content_type_gets_none_here_and_json_under_mangum() -> None:
    requests = [request("no-content", get("/no-content"))]
    with ThreadPoolExecutor(max_workers=2) as pool:
        ours_job = pool.submit(run, "web_asgi.handler", "bootstrap", requests)
        reference_job = pool.submit(run, "web_mangum.handler", "awslambdaric", requests)
        ours, reference = normal(ours_job.result().calls[0]), normal(reference_job.result().calls[0])
    assert ours["status"] == reference["status"] == 204
    assert (ours.get("headers.content-type"), reference.get("headers.content-type")) == (None, ["application/json"])
    assert differing(ours, reference) == {"headers.content-type"}
