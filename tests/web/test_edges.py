"""The web bridge's edges through the real bootstrap: a lifespan that hangs at startup or at shutdown, and events
whose header values are not strings (hand-written test events: the console, unit tests, `sam local`)."""

from __future__ import annotations

import copy
import json
import signal
from typing import Any

import pytest

from emulator.server import LambdaApiServer
from runtime.web.asgi import STARTUP_LIMIT_S
from tests.conftest import StartRuntime
from tests.web import recorded

# Every kind of event, each with its header maps: single-value ("headers") and multi-value ("multiValueHeaders").
KINDS = ["rest-get", "http-v1-payload", "function-url-get", "alb-get", "alb-multi-get"]


def test_a_lifespan_startup_that_hangs_is_a_clear_init_error(api: LambdaApiServer, start: StartRuntime) -> None:
    process = start("web_edges.asgi", {"WEB_HANG": "startup"})
    api.wait_for(lambda: bool(api.marks("lifespan-startup-hangs")))
    # Bounded well past the limit: without one, init hung until Lambda's own limit, with nothing logged.
    api.wait_for(lambda: api.init_error() is not None, wait_s=STARTUP_LIMIT_S + 15)
    error = api.init_error()
    assert error is not None
    document = error.json()
    assert document["errorType"] == "LifespanError"
    assert f"lifespan startup did not answer within {STARTUP_LIMIT_S:.0f} s" in document["errorMessage"]
    assert process.wait() != 0


def test_a_lifespan_shutdown_that_hangs_leaves_the_later_shutdown_hooks_their_time(
    api: LambdaApiServer, start: StartRuntime
) -> None:
    process = start("web_edges.asgi", {"WEB_HANG": "shutdown"})
    request_id = api.submit(json.dumps(recorded("function-url-get")).encode())
    assert api.result(request_id).json()["statusCode"] == 200
    api.wait_ended(request_id)
    process.popen.send_signal(signal.SIGTERM)
    assert process.wait() == 0
    output = process.output()
    assert "lifespan shutdown hangs" in output
    # Half of the 400 ms budget: the hook registered after the handler runs in the other half.
    assert "the app's lifespan shutdown did not answer within 200 ms" in output
    assert "the shutdown hook after the app ran" in output
    assert output.index("lifespan shutdown hangs") < output.index("the shutdown hook after the app ran")


def with_headers(kind: str, values: dict[str, Any]) -> dict[str, Any]:
    """The recorded event of `kind` with `values` added to each of its header maps (as lists in a multi-value one,
    where null stays null: a header the console's test event leaves empty)."""
    event = copy.deepcopy(recorded(kind))
    if isinstance(event.get("headers"), dict):
        event["headers"].update(values)
    if isinstance(event.get("multiValueHeaders"), dict):
        event["multiValueHeaders"].update({k: v if v is None else [v] for k, v in values.items()})
    return event


def invoke(api: LambdaApiServer, event: dict[str, Any]) -> Any:
    request_id = api.submit(json.dumps(event).encode())
    result = api.result(request_id)
    api.wait_ended(request_id)
    return result


@pytest.mark.parametrize("adapter", ["asgi", "wsgi"])
def test_header_values_that_are_numbers_booleans_or_null(
    api: LambdaApiServer, start: StartRuntime, adapter: str
) -> None:
    """A number or a boolean is sent as its JSON text, as API Gateway would send it; null is a header that is not
    there. Before, each of them was an AttributeError from inside the adapter."""
    start(f"web_edges.{adapter}")
    for kind in KINDS:
        result = invoke(api, with_headers(kind, {"X-Count": 5, "X-Flag": True, "X-Ratio": 0.5, "X-None": None}))
        assert result.kind == "response", (kind, result.body)
        response = result.json()
        assert response["statusCode"] == 200, (kind, response)
        seen = dict(map(tuple, json.loads(response["body"])))
        if adapter == "asgi":
            got = {name: seen.get(name) for name in ("x-count", "x-flag", "x-ratio", "x-none")}
            assert got == {"x-count": "5", "x-flag": "true", "x-ratio": "0.5", "x-none": None}, kind
        else:
            got = {name: seen.get(name) for name in ("HTTP_X_COUNT", "HTTP_X_FLAG", "HTTP_X_RATIO", "HTTP_X_NONE")}
            assert got == {"HTTP_X_COUNT": "5", "HTTP_X_FLAG": "true", "HTTP_X_RATIO": "0.5", "HTTP_X_NONE": None}


@pytest.mark.parametrize("adapter", ["asgi", "wsgi"])
def test_a_header_value_that_is_an_object_is_a_malformed_event(
    api: LambdaApiServer, start: StartRuntime, adapter: str
) -> None:
    start(f"web_edges.{adapter}")
    for kind in KINDS:
        result = invoke(api, with_headers(kind, {"X-Object": {"a": 1}}))
        assert result.kind == "error", kind
        document = result.json()
        assert document["errorType"] == "MalformedEvent", (kind, document)  # an UnsupportedEvent
        assert "header 'X-Object' has a value of type dict" in document["errorMessage"]


def test_a_single_value_in_a_multi_value_map_is_one_value_not_one_per_character(
    api: LambdaApiServer, start: StartRuntime
) -> None:
    start("web_edges.asgi")
    for kind in ("rest-get", "alb-multi-get"):
        event = recorded(kind)
        event["multiValueHeaders"]["X-Single"] = "abc"
        event.get("headers", {}).pop("X-Single", None)
        seen = json.loads(invoke(api, event).json()["body"])
        assert [value for name, value in seen if name == "x-single"] == ["abc"], kind
