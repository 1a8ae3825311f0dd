"""The adapters' options beyond the peers' (Lambda Web Adapter's, done in-process): `compress`,
`error_status_codes`, `other_events`, the tenant id; and the services beyond theirs: Lambda@Edge, and which services
take a stream. In-process, with small real ASGI and WSGI apps; through the real bootstrap in test_bridge.py."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import brotli
import pytest

from runtime.streaming import StreamingResponse
from runtime.testing import invoke
from runtime.web import ASGIHandler, ErrorStatusResponse, EventNotHandled, UnsupportedEvent, WSGIHandler
from runtime.web.adapter import status_codes
from runtime.web.compress import MIN_SIZE, accepted
from runtime.web.events import LambdaAtEdge, parse_event
from tests.web import get, recorded

Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]

#: A JSON document over the compression threshold, as an API returns them: records with repeated keys.
DOCUMENT = json.dumps([{"id": n, "name": f"item {n}", "tags": ["a", "b"], "in_stock": n % 2 == 0} for n in range(60)])


pytestmark = pytest.mark.usefixtures("fresh_loop")


def json_app(body: bytes = DOCUMENT.encode(), status: int = 200, content_type: bytes = b"application/json") -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", content_type)]})
        await send({"type": "http.response.body", "body": body})

    return app


def with_accept(event: dict[str, Any], accept_encoding: str) -> dict[str, Any]:
    event["headers"]["accept-encoding"] = accept_encoding
    return event


def body_bytes(result: dict[str, Any]) -> bytes:
    body: str = result["body"]
    return base64.b64decode(body) if result["isBase64Encoded"] else body.encode()


# compress ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "coding"),
    [
        ("gzip", "gzip"),
        ("gzip, deflate, br", "br"),
        ("br;q=0.5, gzip", "gzip"),
        ("*", "br"),
        ("br;q=0, gzip;q=0", None),
        ("identity", None),
        ("", None),
        ("gzip;q=nonsense", None),
    ],
)
def test_the_coding_is_the_clients_preference_by_weight(accept: str, coding: str | None) -> None:
    assert accepted(accept) == coding


@pytest.mark.parametrize("coding", ["gzip", "br"])
def test_a_json_response_is_compressed_for_a_client_that_accepts_it(coding: str) -> None:
    handler = ASGIHandler(json_app(), lifespan="off", compress=True)
    result = handler(with_accept(get("/items"), coding), None)
    headers = result["headers"]
    assert (headers["content-encoding"], headers["vary"], result["isBase64Encoded"]) == (
        coding,
        "accept-encoding",
        True,
    )
    sent = body_bytes(result)
    assert int(headers["content-length"]) == len(sent) < len(DOCUMENT) / 3
    decoded = gzip.decompress(sent) if coding == "gzip" else brotli.decompress(sent)
    assert decoded == DOCUMENT.encode()


@pytest.mark.parametrize(
    ("accept", "body", "content_type"),
    [
        ("", DOCUMENT.encode(), b"application/json"),  # the client did not ask
        ("gzip", b"a" * (MIN_SIZE - 1), b"text/plain"),  # under the threshold
        ("gzip", bytes(range(256)) * 8, b"image/png"),  # already compressed media
    ],
    ids=["not-accepted", "small", "image"],
)
def test_responses_go_out_as_they_are_when_compression_does_not_apply(
    accept: str, body: bytes, content_type: bytes
) -> None:
    handler = ASGIHandler(json_app(body, content_type=content_type), lifespan="off", compress=True)
    result = handler(with_accept(get("/items"), accept), None)
    assert "content-encoding" not in result["headers"]
    assert body_bytes(result) == body


def test_a_response_the_app_encoded_itself_is_left_alone_and_a_strong_etag_is_made_weak() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ["PATH_INFO"] == "/encoded":
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Encoding", "gzip")])
            return [gzip.compress(DOCUMENT.encode())]
        start_response("200 OK", [("Content-Type", "text/html"), ("ETag", '"v1"'), ("Vary", "Cookie")])
        return [DOCUMENT.encode()]

    handler = WSGIHandler(app, compress=True)
    encoded = handler(with_accept(get("/encoded"), "gzip"), None)
    assert encoded["headers"]["content-encoding"] == "gzip"
    assert gzip.decompress(body_bytes(encoded)) == DOCUMENT.encode()  # once, not twice
    page = handler(with_accept(get("/page"), "gzip"), None)
    assert (page["headers"]["etag"], page["headers"]["vary"]) == ('W/"v1"', "Cookie, accept-encoding")
    assert gzip.decompress(body_bytes(page)) == DOCUMENT.encode()


def test_a_streamed_response_is_compressed_part_by_part_and_each_part_is_decodable_when_it_arrives() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for n in range(3):
            await send({"type": "http.response.body", "body": f"data: {n}\n\n".encode(), "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    handler = ASGIHandler(app, lifespan="off", invoke_mode="response_stream", compress=True)
    outcome = invoke(handler, with_accept(get("/events"), "gzip"))
    assert outcome.body is not None
    prelude, _, body = outcome.body.partition(b"\0" * 8)
    assert json.loads(prelude)["headers"]["content-encoding"] == "gzip"
    assert "content-length" not in json.loads(prelude)["headers"]
    assert gzip.decompress(body) == b"data: 0\n\ndata: 1\n\ndata: 2\n\n"


def test_each_streamed_part_is_flushed_so_a_client_can_read_it_before_the_next() -> None:
    # What a browser's EventSource needs: the bytes of part n decode to part n before part n+1 exists.
    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/event-stream")])
        for n in range(3):
            yield f"data: {n}\n\n".encode()

    handler = WSGIHandler(app, invoke_mode="response_stream", compress=True)
    result = handler(with_accept(get("/events"), "gzip"), None)
    assert isinstance(result, StreamingResponse)
    decoder = __import__("zlib").decompressobj(31)
    seen = [decoder.decompress(part) for part in result.body]  # type: ignore[union-attr]
    assert seen[:3] == [b"data: 0\n\n", b"data: 1\n\n", b"data: 2\n\n"]


# error_status_codes -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "codes"),
    [
        ("500-599", set(range(500, 600))),
        ("500,502-504", {500, 502, 503, 504}),
        (503, {503}),
        ([500, 502], {500, 502}),
        (None, set()),
    ],
)
def test_error_status_codes_take_lambda_web_adapters_form_or_a_set(spec: Any, codes: set[int]) -> None:
    assert status_codes(spec) == codes


@pytest.mark.parametrize("spec", ["5xx", "600", "599-500", "500-"])
def test_error_status_codes_refuse_what_is_not_a_status(spec: str) -> None:
    with pytest.raises(ValueError, match="error_status_codes"):
        status_codes(spec)


def test_a_response_with_an_error_status_is_an_invocation_error_that_holds_the_response() -> None:
    handler = ASGIHandler(json_app(b'{"detail": "db down"}', status=503), lifespan="off", error_status_codes="500-599")
    outcome = invoke(handler, get("/items"))
    error = outcome.error
    assert isinstance(error, ErrorStatusResponse)
    # The error message is the response the service would have had, as JSON.
    assert json.loads(str(error)) == error.response
    assert (error.response["statusCode"], error.response["body"]) == (503, '{"detail": "db down"}')
    ok = invoke(ASGIHandler(json_app(status=404), lifespan="off", error_status_codes="500-599"), get("/items"))
    assert ok.error is None and ok.result["statusCode"] == 404


def test_the_apps_work_after_an_error_status_response_still_runs_after_it() -> None:
    ran: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        class Body(list[bytes]):
            def close(self) -> None:
                ran.append("closed")

        start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
        return Body([b"failed"])

    outcome = invoke(WSGIHandler(app, error_status_codes=[500]), get("/"))
    assert isinstance(outcome.error, ErrorStatusResponse) and ran == []
    outcome.run_after_response()
    assert ran == ["closed"]


# other_events -----------------------------------------------------------------------------------------------------


SQS_EVENT = {"Records": [{"eventSource": "aws:sqs", "messageId": "m1", "body": "hello"}]}


async def events_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers a POST to /events with what it read; anything else with 404."""
    message = await receive()
    if (scope["method"], scope["path"]) != ("POST", "/events"):
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b"not found"})
        return
    event = json.loads(message["body"])
    failures = [{"itemIdentifier": record["messageId"]} for record in event["Records"] if record["body"] == "bad"]
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": json.dumps({"batchItemFailures": failures}).encode()})


def test_without_other_events_an_event_that_is_no_http_request_is_an_error() -> None:
    with pytest.raises(UnsupportedEvent):
        ASGIHandler(events_app, lifespan="off")(SQS_EVENT, None)


def test_other_events_are_posted_to_the_app_and_its_json_answer_is_the_result() -> None:
    handler = ASGIHandler(events_app, lifespan="off", other_events=True)
    assert handler(SQS_EVENT, None) == {"batchItemFailures": []}
    bad = {"Records": [{"eventSource": "aws:sqs", "messageId": "m2", "body": "bad"}]}
    assert handler(bad, None) == {"batchItemFailures": [{"itemIdentifier": "m2"}]}
    # HTTP requests are still served as HTTP requests.
    assert handler(get("/events"), None)["statusCode"] == 404


def test_an_event_the_app_answers_with_an_error_status_fails_the_invocation_so_it_is_retried() -> None:
    handler = ASGIHandler(events_app, lifespan="off", other_events="/elsewhere")
    with pytest.raises(EventNotHandled, match="the app answered 404 to the event POSTed to /elsewhere: not found"):
        handler(SQS_EVENT, None)


@pytest.mark.parametrize("is_async", [False, True], ids=["function", "async-function"])
def test_other_events_can_go_to_a_function_whose_result_is_the_invocations(is_async: bool) -> None:
    def on_event(event: Any, context: Any) -> Any:
        return {"records": len(event["Records"])}

    async def on_event_async(event: Any, context: Any) -> Any:
        return on_event(event, context)

    handler = WSGIHandler(lambda environ, start: [], other_events=on_event_async if is_async else on_event)
    assert handler(SQS_EVENT, None) == {"records": 1}


def test_a_malformed_http_event_is_an_error_not_another_kind_of_event() -> None:
    event = recorded("http-v2-post-binary")
    event["body"] = "not base64!"
    handler = WSGIHandler(lambda environ, start: [], other_events=lambda event, context: "taken for an event")
    with pytest.raises(UnsupportedEvent, match="malformed HTTP event"):
        handler(event, None)


def test_other_events_must_be_a_path() -> None:
    with pytest.raises(ValueError, match="must be a path"):
        ASGIHandler(events_app, lifespan="off", other_events="events")


# the tenant id ----------------------------------------------------------------------------------------------------


class TenantContext:
    def __init__(self, tenant_id: str | None) -> None:
        self.tenant_id = tenant_id


@pytest.mark.parametrize("tenant_id", ["tenant-a", None], ids=["tenant", "no-tenant"])
def test_the_tenant_id_reaches_the_app_as_x_amz_tenant_id_and_a_clients_own_never_does(tenant_id: str | None) -> None:
    seen: list[dict[str, Any]] = []

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        seen.append(environ)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    event = get("/")
    event["headers"]["x-amz-tenant-id"] = "spoofed"
    context = TenantContext(tenant_id)
    WSGIHandler(app)(event, context)
    assert seen[0].get("HTTP_X_AMZ_TENANT_ID") == tenant_id
    assert seen[0]["aws.context"] is context


# Lambda@Edge, and where streams go ----------------------------------------------------------------------------------


def edge_event(method: str = "GET", body: str | None = None) -> dict[str, Any]:
    """A CloudFront origin-request event (the AWS CloudFront developer guide's "Lambda@Edge event structure")."""
    request: dict[str, Any] = {
        "clientIp": "203.0.113.178",
        "headers": {
            "host": [{"key": "Host", "value": "d111111abcdef8.cloudfront.net"}],
            "cloudfront-forwarded-proto": [{"key": "CloudFront-Forwarded-Proto", "value": "https"}],
            "cookie": [{"key": "Cookie", "value": "a=1"}, {"key": "Cookie", "value": "b=2"}],
        },
        "method": method,
        "querystring": "size=LARGE&color=red",
        "uri": "/items/42",
    }
    if body is not None:
        request["body"] = {
            "inputTruncated": False,
            "action": "read-only",
            "encoding": "base64",
            "data": base64.b64encode(body.encode()).decode(),
        }
    config = {"distributionId": "EDFDVBD6EXAMPLE", "eventType": "origin-request", "requestId": "4TyzHTaYWb1G"}
    return {"Records": [{"cf": {"config": config, "request": request}}]}


def test_a_lambda_at_edge_request_is_read_and_answered_in_cloudfronts_form() -> None:
    request = parse_event(edge_event("POST", "x=1"))
    assert isinstance(request.source, LambdaAtEdge)
    assert (request.method, request.path, request.query_string, request.body) == (
        "POST",
        "/items/42",
        "size=LARGE&color=red",
        b"x=1",
    )
    assert (request.client, request.scheme, request.server) == (
        "203.0.113.178",
        "https",
        ("d111111abcdef8.cloudfront.net", 443),
    )

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        assert environ["HTTP_COOKIE"] == "a=1; b=2"
        start_response("201 Created", [("Content-Type", "image/gif"), ("Set-Cookie", "c=3"), ("Set-Cookie", "d=4")])
        return [b"GIF87a"]

    result = WSGIHandler(app)(edge_event(), None)
    assert result == {
        "status": "201",
        "headers": {
            "content-type": [{"key": "Content-Type", "value": "image/gif"}],
            "set-cookie": [{"key": "Set-Cookie", "value": "c=3"}, {"key": "Set-Cookie", "value": "d=4"}],
        },
        "body": base64.b64encode(b"GIF87a").decode(),
        "bodyEncoding": "base64",
    }


@pytest.mark.parametrize("name", ["alb-get", "edge"])
def test_services_that_cannot_take_a_stream_get_a_whole_response_from_a_streaming_handler(name: str) -> None:
    handler = ASGIHandler(json_app(b"whole"), lifespan="off", invoke_mode="response_stream")
    result = handler(edge_event() if name == "edge" else recorded(name), None)
    assert isinstance(result, dict)
    assert result["body"] == "whole"


def test_a_stream_whose_prelude_is_over_16_kb_is_refused_before_it_starts() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(f"x-h{n}".encode(), b"v" * 200) for n in range(100)]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"x"})

    handler = ASGIHandler(app, lifespan="off", invoke_mode="response_stream")
    outcome = invoke(handler, recorded("rest-get"))
    assert isinstance(outcome.error, ValueError) and "16384" in str(outcome.error)


def test_a_refused_wsgi_stream_still_has_its_close_run_after_the_response() -> None:
    ran: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
        try:
            yield b"busy"
        finally:
            ran.append("closed")

    handler = WSGIHandler(app, invoke_mode="response_stream", error_status_codes="500-599")
    outcome = invoke(handler, get("/"))
    assert isinstance(outcome.error, ErrorStatusResponse)
    assert outcome.error.response == {"statusCode": 503, "headers": {"Content-Type": "text/plain"}}
    outcome.run_after_response()
    assert ran == ["closed"]
