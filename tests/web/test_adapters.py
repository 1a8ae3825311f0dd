"""The adapters in-process, outside any invocation (as a user's unit test calls them): the event rules, failures,
and the lifespan modes, with small real ASGI and WSGI apps."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from runtime import aio, hooks
from runtime.testing import invoke
from runtime.web import ASGIHandler, LifespanError, UnsupportedEvent, WSGIHandler
from runtime.web.events import AlbMultiValue, HttpApiV2, RestApi, lambda_response, parse_event
from tests.web import get, recorded

Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]


pytestmark = pytest.mark.usefixtures("fresh_loop")


def asgi_app(
    status: int = 200,
    headers: Iterable[tuple[bytes, bytes]] = ((b"content-type", b"text/plain"),),
    body: bytes = b"ok",
    then: Any = None,
) -> Callable[[Scope, Receive, Send], Any]:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise ValueError("no lifespan here")
        await send({"type": "http.response.start", "status": status, "headers": list(headers)})
        await send({"type": "http.response.body", "body": body})
        if then is not None:
            then()

    return app


# The event rules ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [None, [], {"Records": []}, {"requestContext": {"accountId": "1"}}, {"requestContext": "x", "httpMethod": "GET"}],
    ids=["null", "list", "sqs", "no-http-fields", "context-not-an-object"],
)
def test_events_that_are_not_http_requests_are_refused(event: Any) -> None:
    with pytest.raises(UnsupportedEvent, match="HTTP request"):
        parse_event(event)


def test_a_malformed_http_event_is_refused_with_its_cause() -> None:
    event = recorded("http-v2-post-binary")
    event["body"] = "not base64!"
    with pytest.raises(
        UnsupportedEvent, match=r"malformed HTTP event from API Gateway HTTP API \(payload 2.0\): Error"
    ):
        parse_event(event)


def test_requests_read_from_each_kind_of_event() -> None:
    v2 = parse_event(recorded("http-v2-get"))
    assert (type(v2.source), v2.method, v2.path, v2.query_string) == (
        HttpApiV2,
        "GET",
        "/items/42",
        "color=red&tag=a&tag=b",
    )
    assert v2.header("cookie") == "session=abc; theme=dark" and v2.client == "203.0.113.7"
    rest = parse_event(recorded("rest-get"))
    assert (type(rest.source), rest.query_string, rest.server) == (
        RestApi,
        "color=red&tag=a&tag=b",
        ("abc123.execute-api.us-east-1.amazonaws.com", 443),
    )
    alb = parse_event(recorded("alb-multi-get"))
    # ALB does not decode the query: decoded once, encoded once; each Cookie header kept as it came.
    assert (type(alb.source), alb.query_string) == (AlbMultiValue, "color=red&tag=a&tag=b&q=a+b")
    assert [value for name, value in alb.headers if name == "cookie"] == ["session=abc", "theme=dark"]
    assert parse_event(recorded("alb-post-binary")).body == bytes.fromhex("00010203feff807f")
    based = parse_event(recorded("rest-base-path"), base_path="/api/")
    assert (based.path, based.root_path, based.route_path) == ("/api/items/7", "/api", "/items/7")
    assert parse_event(recorded("rest-base-path"), base_path="/apix").root_path == ""


@pytest.mark.parametrize("context", ["missing", None], ids=["missing", "null"])
def test_a_hand_written_rest_event_without_a_request_context_is_served(context: Any) -> None:
    # As apig-wsgi's suite writes its events; API Gateway always sends one, so nothing of it is needed.
    event: dict[str, Any] = {"httpMethod": "POST", "path": "/items", "headers": {"Host": "example.com"}, "body": "x=1"}
    if context is None:
        event["requestContext"] = None
    request = parse_event(event)
    assert (request.method, request.path, request.body, request.client) == ("POST", "/items", b"x=1", None)


def test_a_v2_event_with_a_cookie_header_and_cookies_keeps_both() -> None:
    # API Gateway moves every cookie into `cookies`; a hand-written event may also have the header: none is dropped.
    event = get("/")
    event["headers"]["cookie"] = "a=1"
    event["cookies"] = ["b=2", "c=3"]
    assert parse_event(event).header("cookie") == "b=2; c=3; a=1"  # apig-wsgi's order


def test_a_query_string_with_a_leading_question_mark_is_read_without_it() -> None:
    event = get("/hello", "?name=Ada")
    assert parse_event(event).query_string == "name=Ada"


@pytest.mark.parametrize("multi_value_headers", [True, False], ids=["multi-value-headers", "single-value-headers"])
@pytest.mark.parametrize("multi_value_query", [True, False], ids=["multi-value-query", "single-value-query"])
def test_an_alb_query_string_is_read_from_whichever_map_the_event_has(
    multi_value_headers: bool, multi_value_query: bool
) -> None:
    # Hand-written ALB events mix the two forms; the query string was dropped when they did (as Mangum and
    # apig-wsgi do, each map is read when the other is missing).
    event = dict(recorded("alb-multi-get"))
    if not multi_value_headers:
        event["headers"] = {name: values[-1] for name, values in event.pop("multiValueHeaders").items()}
    query = event.pop("multiValueQueryStringParameters")
    if multi_value_query:
        event["multiValueQueryStringParameters"] = query
        expected = "color=red&tag=a&tag=b&q=a+b"
    else:
        event["queryStringParameters"] = {name: values[-1] for name, values in query.items()}
        expected = "color=red&tag=b&q=a+b"
    assert parse_event(event).query_string == expected


@pytest.mark.parametrize(
    ("headers", "body", "text"),
    [
        ([("Content-Type", "text/html; charset=utf-8")], "é".encode(), True),
        ([("content-type", "application/problem+json")], b"{}", True),
        ([("content-type", "image/svg+xml")], b"<svg/>", True),
        ([("content-type", "text/plain"), ("content-encoding", "gzip")], b"text", False),
        ([("content-type", "text/plain")], b"\xff\xfe", False),
        ([("content-type", "application/octet-stream")], b"abc", False),
        ([], b"abc", False),
    ],
    ids=["html", "problem+json", "svg+xml", "gzip", "not-utf8", "octet-stream", "no-type"],
)
def test_bodies_go_as_text_only_when_they_are_text(headers: list[tuple[str, str]], body: bytes, text: bool) -> None:
    result = lambda_response(parse_event(recorded("http-v2-get")), 200, headers, body)
    assert result["isBase64Encoded"] is not text
    assert (result["body"] if text else base64.b64decode(result["body"])) == (body.decode() if text else body)


def test_repeated_headers_in_each_response_form() -> None:
    # Names keep the spelling given in the REST and ALB forms (a WSGI app's, as apig-wsgi keeps it), lower-cased in
    # payload 2.0's; a header repeated under another case is the same header, under its first spelling.
    headers = [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("Vary", "Accept"), ("vary", "Cookie")]
    v2 = lambda_response(parse_event(recorded("http-v2-get")), 201, headers, b"")
    assert v2 == {
        "statusCode": 201,
        "headers": {"vary": "Accept,Cookie"},
        "cookies": ["a=1", "b=2"],
        "body": "",
        "isBase64Encoded": False,
    }
    rest = lambda_response(parse_event(recorded("rest-get")), 200, headers, b"", exclude_headers=frozenset({"vary"}))
    assert (rest["headers"], rest["multiValueHeaders"]) == ({}, {"Set-Cookie": ["a=1", "b=2"]})
    alb = lambda_response(parse_event(recorded("alb-get")), 200, headers * 2, b"")
    # One value per key in ALB's single-value form: a repeated header goes under differently-cased names.
    assert len(alb["headers"]) == 8 and {name.lower() for name in alb["headers"]} == {"set-cookie", "vary"}
    assert sorted(value for name, value in alb["headers"].items() if name.lower() == "set-cookie") == [
        "a=1",
        "a=1",
        "b=2",
        "b=2",
    ]
    multi = lambda_response(parse_event(recorded("alb-multi-get")), 200, headers, b"")
    assert multi["multiValueHeaders"] == {"Set-Cookie": ["a=1", "b=2"], "Vary": ["Accept", "Cookie"]}


# ASGI -------------------------------------------------------------------------------------------------------------


def test_outside_an_invocation_the_apps_work_after_its_response_runs_before_returning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ran: list[str] = []
    handler = ASGIHandler(asgi_app(then=lambda: ran.append("after")), lifespan="off")
    with caplog.at_level(logging.WARNING):
        first = handler(get("/"), None)
        second = handler(get("/"), None)
    assert (first["statusCode"], first["body"], second["body"]) == (200, "ok", "ok")
    assert ran == ["after", "after"]  # nothing is lost, nothing is left paused
    warnings = [r.getMessage() for r in caplog.records if "runs now, before the handler returns" in r.getMessage()]
    assert len(warnings) == 1 and "no invocation is open" in warnings[0]


@pytest.mark.parametrize("failure", ["raises", "returns-early", "bad-message"])
def test_an_app_that_fails_before_its_response_answers_500(failure: str, caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if failure == "raises":
            raise KeyError("boom")
        if failure == "bad-message":
            await send({"type": "http.response.body", "body": b"no start"})

    with caplog.at_level(logging.ERROR):
        result = ASGIHandler(app, lifespan="off")(get("/"), None)
    assert (result["statusCode"], result["body"]) == (500, "Internal Server Error")
    assert any(r.getMessage().startswith("asgi: the app") for r in caplog.records)


def test_the_app_reads_the_body_then_sees_a_disconnect_once_the_response_is_out() -> None:
    messages: list[dict[str, Any]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        messages.append(await receive())
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"got it"})
        messages.append(await receive())

    result = ASGIHandler(app, lifespan="off")(recorded("http-v2-post-text"), None)
    assert result["body"] == "got it"
    assert messages == [
        {"type": "http.request", "body": b"hello, world", "more_body": False},
        {"type": "http.disconnect"},
    ]


def lifespan_app(answer: str | None, state: dict[str, Any] | None = None) -> Callable[[Scope, Receive, Send], Any]:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await receive()
            if state is not None:
                scope["state"].update(state)
            if answer is None:
                raise RuntimeError("startup crashed")
            await send({"type": answer, "message": "no database"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        await asgi_app(body=repr(sorted(scope["state"])).encode())(scope, receive, send)

    return app


def test_lifespan_state_reaches_each_request() -> None:
    handler = ASGIHandler(lifespan_app("lifespan.startup.complete", {"pool": 1}))
    assert handler(get("/"), None)["body"] == "['pool']"
    assert aio.leftover_tasks() == []  # the lifespan task is the process's, not an invocation's leftover


@pytest.mark.parametrize(
    ("answer", "message"),
    [("lifespan.startup.failed", "no database"), (None, "startup crashed")],
    ids=["startup-failed", "raised"],
)
def test_a_failed_lifespan_startup_raises(answer: str | None, message: str) -> None:
    # The app's own exception when it raised one, else LifespanError with its message.
    with pytest.raises(RuntimeError if answer is None else LifespanError, match=message):
        ASGIHandler(lifespan_app(answer))


def test_the_lifespan_shutdown_runs_as_a_shutdown_hook_and_reports_a_failure() -> None:
    ASGIHandler(lifespan_app("lifespan.startup.complete"))
    [task] = [task for task in hooks.registry.shutdown if task.name == "asgi lifespan shutdown"]
    aio.result_of(task.call(None))  # completes: the app answered lifespan.shutdown.complete
    assert aio.leftover_tasks() == []

    async def refuses(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.failed", "message": "Traceback ...\nOSError: pool busy\n"})

    ASGIHandler(refuses)
    failing = hooks.registry.shutdown[-1]
    with pytest.raises(LifespanError, match=r"lifespan shutdown failed: OSError: pool busy$"):
        aio.result_of(failing.call(None))


def test_an_app_without_lifespan_is_served_in_auto_mode_and_refused_in_on_mode() -> None:
    assert ASGIHandler(asgi_app(), lifespan="auto")(get("/"), None)["body"] == "ok"
    with pytest.raises(LifespanError, match="does not support the lifespan protocol"):
        ASGIHandler(asgi_app(), lifespan="on")
    with pytest.raises(ValueError, match="lifespan must be"):
        ASGIHandler(asgi_app(), lifespan="sometimes")  # type: ignore[arg-type]


@pytest.mark.parametrize("reads_first", [True, False], ids=["reads-then-answers", "answers-at-once"])
def test_an_app_that_answers_every_scope_as_http_has_no_lifespan(reads_first: bool) -> None:
    # The ASGI spec, Mangum, uvicorn and hypercorn take it as "no lifespan" and serve the app; "on" refuses it.
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if reads_first:
            await receive()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": scope["type"].encode()})

    handler = ASGIHandler(app)
    assert handler(get("/"), None)["body"] == "http"
    assert [task.name for task in hooks.registry.shutdown if task.name == "asgi lifespan shutdown"] == []
    assert aio.leftover_tasks() == []
    with pytest.raises(LifespanError, match=r"does not support the lifespan protocol.*'http\.response\.start'"):
        ASGIHandler(app, lifespan="on")


# WSGI -------------------------------------------------------------------------------------------------------------


class Body:
    def __init__(self, chunks: list[bytes], fail: bool = False) -> None:
        self.chunks = chunks
        self.fail = fail
        self.closed = 0

    def __iter__(self) -> Iterator[bytes]:
        yield from self.chunks
        if self.fail:
            raise OSError("disk gone")

    def close(self) -> None:
        self.closed += 1


def test_wsgi_environ_follows_pep_3333() -> None:
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.update(environ)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ["wsgi.input"].read()]

    event = recorded("http-v2-encoded-path")
    assert WSGIHandler(app)(event, "ctx")["body"] == ""
    assert seen["PATH_INFO"] == "/files/a b" and seen["QUERY_STRING"] == "q=caf%C3%A9&x=1%2B2"
    assert (seen["SERVER_NAME"], seen["SERVER_PORT"], seen["wsgi.url_scheme"]) == (
        "abc123.execute-api.us-east-1.amazonaws.com",
        "443",
        "https",
    )
    assert "HTTP_CONTENT_LENGTH" not in seen and seen["CONTENT_LENGTH"] == "0"
    assert seen["aws.event"] is event and seen["aws.context"] == "ctx" and seen["apig_wsgi.full_event"] is event
    unicode_path = get("/café")
    WSGIHandler(app)(unicode_path, None)
    assert seen["PATH_INFO"] == "/café".encode().decode("latin-1")


def test_wsgi_close_runs_before_returning_outside_an_invocation_and_after_a_failure() -> None:
    body = Body([b"a", b"", b"b"])

    def app(environ: dict[str, Any], start_response: Any) -> Body:
        start_response("201 Created", [("Content-Type", "text/plain")])
        return body

    assert WSGIHandler(app)(get("/"), None)["body"] == "ab" and body.closed == 1
    failing = Body([b"a"], fail=True)
    result = WSGIHandler(lambda environ, start_response: (start_response("200 OK", []), failing)[1])(get("/"), None)
    assert (result["statusCode"], failing.closed) == (500, 1)


def test_wsgi_error_page_replaces_a_started_response_and_a_second_start_without_exc_info_fails() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise ValueError("late")
        except ValueError:
            import sys

            start_response("503 Service Unavailable", [("Content-Type", "text/plain")], sys.exc_info())
        return [b"sorry"]

    assert WSGIHandler(app)(get("/"), None)["statusCode"] == 503

    def twice(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        start_response("200 OK", [])
        return []

    assert WSGIHandler(twice)(get("/"), None)["statusCode"] == 500
    assert WSGIHandler(lambda environ, start_response: [])(get("/"), None)["statusCode"] == 500


def test_through_runtime_testing_the_apps_work_after_its_response_is_deferred() -> None:
    ran: list[str] = []
    outcome = invoke(ASGIHandler(asgi_app(then=lambda: ran.append("after")), lifespan="off"), get("/"))
    assert outcome.result["body"] == "ok" and ran == []
    # No Starlette background task to name: the app's own code after its response, named by the app.
    name = f"{__name__}.asgi_app.<locals>.app"
    assert outcome.deferred == [name]
    assert outcome.run_after_response() == [(name, "ok")]
    assert ran == ["after"]
