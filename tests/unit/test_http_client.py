"""The Runtime API client's HTTP/1.1, against scripted raw-socket servers: what a library must get right."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.api import RuntimeApi, RuntimeApiError, parse_invocation
from runtime.httpclient import HttpConnection
from tests.rawserver import RawServer, Script
from tests.support import wait_until


@pytest.fixture
def client() -> Iterator[Callable[[str], RuntimeApi]]:
    clients: list[RuntimeApi] = []

    def connect(address: str) -> RuntimeApi:
        clients.append(RuntimeApi(address))
        return clients[-1]

    yield connect
    for api in clients:
        api.close()


NEXT_HEAD = (
    b"HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: req-1\r\nLambda-Runtime-Deadline-Ms: 1700000000000\r\n"
    b"Content-Type: application/json\r\n"
)


def test_a_reply_arriving_one_byte_at_a_time(
    raw_api: Callable[[Script], RawServer], client: Callable[[str], RuntimeApi]
) -> None:
    def script(connection: socket.socket, _: int) -> None:
        server.read_request(connection)
        for byte in NEXT_HEAD + b"Content-Length: 11\r\n\r\n" + b'{"a": "bc"}':
            connection.sendall(bytes([byte]))
            time.sleep(0.0005)

    server = raw_api(script)
    request = client(server.address).next_invocation()
    assert (request.request_id, request.deadline_ms, request.body) == ("req-1", 1700000000000, b'{"a": "bc"}')


def test_a_chunked_reply_with_extensions_and_trailers(
    raw_api: Callable[[Script], RawServer], client: Callable[[str], RuntimeApi]
) -> None:
    def script(connection: socket.socket, _: int) -> None:
        server.read_request(connection)
        connection.sendall(
            NEXT_HEAD + b"Transfer-Encoding: chunked\r\n\r\n"
            b"4;ext=1\r\n{\"a\"\r\n" b"A\r\n: \"0123456\r\n" b"2\r\n\"}\r\n" b"0\r\nX-Trailer: t\r\n\r\n"
        )  # fmt: skip

    server = raw_api(script)
    assert client(server.address).next_invocation().body == b'{"a": "0123456"}'


def test_large_bodies_both_ways(raw_api: Callable[[Script], RawServer], client: Callable[[str], RuntimeApi]) -> None:
    big = bytes(range(256)) * (32 * 1024)  # 8 MiB

    def script(connection: socket.socket, _: int) -> None:
        server.read_request(connection)
        connection.sendall(NEXT_HEAD + b"Content-Length: %d\r\n\r\n" % len(big) + big)
        server.read_request(connection)
        connection.sendall(b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}")

    server = raw_api(script)
    api = client(server.address)
    assert api.next_invocation().body == big
    api.post_response("req-1", big, "application/octet-stream")
    assert server.received[1].endswith(big)
    assert b"Content-Length: 8388608\r\n" in server.received[1]


def test_keep_alive_loss_is_retried_once_on_a_fresh_connection(
    raw_api: Callable[[Script], RawServer], client: Callable[[str], RuntimeApi]
) -> None:
    def script(connection: socket.socket, index: int) -> None:
        server.read_request(connection)
        connection.sendall(NEXT_HEAD + b"Content-Length: 2\r\n\r\n{}")
        if index == 0:
            return  # closes the kept-alive connection while the client is idle
        server.read_request(connection)

    server = raw_api(script)
    api = client(server.address)
    api.next_invocation()
    wait_until(lambda: server.finished == 1)  # the server has closed the first connection: the client is idle on it
    assert api.next_invocation().request_id == "req-1"
    assert server.connections == 2


def test_a_fresh_connection_closed_before_a_reply_is_an_error(
    raw_api: Callable[[Script], RawServer], client: Callable[[str], RuntimeApi]
) -> None:
    server = raw_api(lambda connection, _: None)  # accepts, then closes
    with pytest.raises(RuntimeApiError, match="the connection closed before any reply"):
        client(server.address).next_invocation()


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (NEXT_HEAD + b"Content-Length: 10\r\n\r\n{}", "connection closed after 2 of 10 body bytes"),
        (b"HTTP/1.1 200 OK\r\nLambda-Runtime-Aws", "connection closed in the middle of a response head"),
        (b"SPDY/3 200 OK\r\n\r\n", "not an HTTP/1.x status line"),
        (NEXT_HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
        (NEXT_HEAD + b"Content-Length: x\r\n\r\n", "bad Content-Length"),
    ],
)
def test_truncated_or_malformed_replies_are_errors_not_hangs(
    raw_api: Callable[[Script], RawServer], client: Callable[[str], RuntimeApi], reply: bytes, message: str
) -> None:
    def script(connection: socket.socket, _: int) -> None:
        server.read_request(connection)
        connection.sendall(reply)

    server = raw_api(script)
    with pytest.raises(RuntimeApiError, match=message):
        client(server.address).next_invocation()


def test_a_reply_without_length_is_read_until_close(
    raw_api: Callable[[Script], RawServer], client: Callable[[str], RuntimeApi]
) -> None:
    def script(connection: socket.socket, _: int) -> None:
        server.read_request(connection)
        connection.sendall(NEXT_HEAD + b"\r\n" + b"x" * 100_000)

    server = raw_api(script)
    assert client(server.address).next_invocation().body == b"x" * 100_000


def test_connection_close_is_honoured(
    raw_api: Callable[[Script], RawServer], client: Callable[[str], RuntimeApi]
) -> None:
    def script(connection: socket.socket, _: int) -> None:
        server.read_request(connection)
        connection.sendall(NEXT_HEAD + b"Connection: close\r\nContent-Length: 2\r\n\r\n{}")

    server = raw_api(script)
    api = client(server.address)
    api.next_invocation()
    api.next_invocation()
    assert server.connections == 2


def test_refused_connection_names_the_address(client: Callable[[str], RuntimeApi]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(RuntimeApiError, match=f"cannot connect to the Runtime API at 127.0.0.1:{port}"):
        client(f"127.0.0.1:{port}").next_invocation()


def test_a_bad_address_is_a_clear_error() -> None:
    with pytest.raises(RuntimeApiError, match="AWS_LAMBDA_RUNTIME_API is not host:port"):
        HttpConnection("localhost")


def test_a_reply_without_request_id_or_with_a_bad_deadline_is_refused() -> None:
    with pytest.raises(RuntimeApiError, match="without a Lambda-Runtime-Aws-Request-Id"):
        parse_invocation({"lambda-runtime-deadline-ms": "1"}, b"")
    with pytest.raises(RuntimeApiError, match="Deadline-Ms that is not a number: 'soon'"):
        parse_invocation({"lambda-runtime-aws-request-id": "r", "lambda-runtime-deadline-ms": "soon"}, b"")


_header_text = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=80)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    request_id=_header_text,
    deadline=st.integers(min_value=0, max_value=2**53),
    trace=st.none() | _header_text,
    tenant=st.none() | _header_text,
    body=st.binary(max_size=2000),
)
def test_headers_parse_into_the_invocation_over_real_http(
    raw_api: Callable[[Script], RawServer],
    client: Callable[[str], RuntimeApi],
    request_id: str,
    deadline: int,
    trace: str | None,
    tenant: str | None,
    body: bytes,
) -> None:
    head = (
        f"HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: {request_id}\r\nLambda-Runtime-Deadline-Ms: {deadline}\r\n"
    )
    if trace is not None:
        head += f"lambda-runtime-trace-id:{trace}\r\n"  # any case, no space after the colon
    if tenant is not None:
        head += f"LAMBDA-RUNTIME-AWS-TENANT-ID:   {tenant}  \r\n"
    reply = head.encode() + b"Content-Length: %d\r\n\r\n" % len(body) + body

    def script(connection: socket.socket, _: int) -> None:
        server.read_request(connection)
        connection.sendall(reply)

    server = raw_api(script)
    request = client(server.address).next_invocation()
    assert (request.request_id, request.deadline_ms, request.trace_id, request.tenant_id, request.body) == (
        request_id, deadline, trace, tenant, body,
    )  # fmt: skip
