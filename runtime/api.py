"""The Lambda Runtime API and Extensions API client: the only module that speaks HTTP or knows a path or header.

Lambda serves both APIs as plain HTTP/1.1 on a loopback address (../shared/docs/lambda-platform.md §1.1). The client
is a small keep-alive HTTP/1.1 client over one socket per API user (the loop's and the extension thread's), because
it sits on every invocation's critical path: docs/design.md "HTTP client" has the measurements against urllib3,
http.client and awslambdaric's C client that led to it.
"""

from __future__ import annotations

# `_socket`, not `socket`: the module `socket` spends ~2 ms of every cold start building enums of its constants.
import _socket
import os
import select

TYPE_CHECKING = False  # `typing` costs ~8 ms of cold start: it is for the type checker only
if TYPE_CHECKING:
    from typing import Final, NoReturn

RUNTIME_PREFIX: Final = "/2018-06-01/runtime"
EXTENSION_PREFIX: Final = "/2020-01-01/extension"

# Headers of /next (§1.3), compared lower-cased.
_REQUEST_ID: Final = "lambda-runtime-aws-request-id"
_DEADLINE_MS: Final = "lambda-runtime-deadline-ms"
_FUNCTION_ARN: Final = "lambda-runtime-invoked-function-arn"
_TRACE_ID: Final = "lambda-runtime-trace-id"
_CLIENT_CONTEXT: Final = "lambda-runtime-client-context"
_COGNITO_IDENTITY: Final = "lambda-runtime-cognito-identity"
_TENANT_ID: Final = "lambda-runtime-aws-tenant-id"
_INVOCATION_ID: Final = "lambda-runtime-invocation-id"
_CONTENT_TYPE: Final = "content-type"

# Headers the runtime sends (§1.4).
_ERROR_TYPE_HEADER: Final = "Lambda-Runtime-Function-Error-Type"
_XRAY_CAUSE_HEADER: Final = "Lambda-Runtime-Function-XRay-Error-Cause"
_INVOCATION_ID_HEADER: Final = "Lambda-Runtime-Invocation-Id"
_EXTENSION_NAME_HEADER: Final = "Lambda-Extension-Name"
_EXTENSION_ID_HEADER: Final = "Lambda-Extension-Identifier"

# RAPID crops the X-Ray cause to 64 KiB (§1.4): a larger header is left out rather than sent.
_XRAY_CAUSE_MAX_BYTES: Final = 64 * 1024
_MAX_HEAD_BYTES: Final = 64 * 1024
_RECV_SIZE: Final = 64 * 1024
# Larger than any event Lambda sends (6 MB synchronous, 1 MB asynchronous): a reply that announces more is broken,
# and is refused before the runtime tries to allocate it.
MAX_BODY_BYTES: Final = 64 * 1024 * 1024
_HEX_DIGITS: Final = frozenset("0123456789abcdefABCDEF")


class RuntimeApiError(Exception):
    """The API could not be reached or answered in a way the runtime cannot continue from: exit, Lambda restarts."""


class NoReply(RuntimeApiError):
    """A request was sent in full and the connection closed before any byte of a reply: it may have been acted on,
    so it is not sent again."""


class RejectedRequest(RuntimeApiError):
    """The API answered a post with a 4xx status: the invocation is over for Lambda, the runtime goes on."""

    def __init__(self, endpoint: str, status: int, body: bytes) -> None:
        self.endpoint = endpoint
        self.status = status
        self.body = body
        super().__init__(f"{endpoint} answered {status}: {body.decode('utf-8', 'replace')[:500]}")


class InvocationRequest:
    """One `GET /runtime/invocation/next` reply, its headers parsed once."""

    __slots__ = (
        "body", "client_context", "cognito_identity", "content_type", "deadline_ms", "invocation_id",
        "invoked_function_arn", "request_id", "tenant_id", "trace_id",
    )  # fmt: skip

    def __init__(
        self,
        request_id: str,
        deadline_ms: int,
        invoked_function_arn: str | None = None,
        trace_id: str | None = None,
        client_context: str | None = None,
        cognito_identity: str | None = None,
        tenant_id: str | None = None,
        content_type: str | None = None,
        invocation_id: str | None = None,
        body: bytes = b"",
    ) -> None:
        self.request_id = request_id
        self.deadline_ms = deadline_ms
        self.invoked_function_arn = invoked_function_arn
        self.trace_id = trace_id
        self.client_context = client_context
        self.cognito_identity = cognito_identity
        self.tenant_id = tenant_id
        self.content_type = content_type
        self.invocation_id = invocation_id
        self.body = body


class Response:
    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


class HttpConnection:
    """A keep-alive HTTP/1.1 connection to one host:port, reopened when the server closes it.

    Blocking, no timeout: `/next` and `/extension/event/next` long-poll and the process may be frozen for a long
    time between two bytes (§1.2, "Do not set a client timeout"). A signal handler that raises interrupts a wait.
    """

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        if not host or not is_number(port):
            raise RuntimeApiError(f"AWS_LAMBDA_RUNTIME_API is not host:port: {address!r}")
        self._target = (host.strip("[]"), int(port))
        self._host_header = address.encode("ascii", "replace")
        self._sock: _socket.socket | None = None
        self._idle: select.poll | None = None
        self._buffer = bytearray()
        # The request whose reply has not been read: (method, path, head, body).
        self._unanswered: tuple[str, str, bytes, bytes] = ("", "", b"", b"")
        self._poller: select.poll | None = None
        self._poll_fd = -1

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
            self._idle = None
        self._buffer.clear()

    def request(self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b"") -> Response:
        self.send_request(method, path, headers, body)
        return self.read_response()

    def send_request(self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b"") -> None:
        """Send a request; `read_response()` reads its reply, now or later.

        A request is sent a second time (on a fresh connection) only when the first attempt cannot have reached the
        server whole: the kept-alive connection was found closed before writing, or writing failed. Once every
        byte is written it is never sent again (urllib3's rule for requests that are not idempotent): a second
        POST of a result would be refused with 403 and hide that the first one arrived.
        """
        head = self._head(method, path, headers, body)
        self._unanswered = (method, path, head, body)
        # A fresh connection when the server closed or reset the idle one (poll: readable), or left bytes after the
        # last reply's body (the connection is out of step). A GET is asked again anyway if its reply is lost
        # (read_response): only other requests pay for the poll(0), ~0.3 µs.
        idle = self._idle
        if idle is not None and (self._buffer or (method != "GET" and idle.poll(0))):
            self.close()
        try:
            self._send(head, body)
        except _ConnectionDropped:
            self.close()
            try:
                self._send(head, body)
            except _ConnectionDropped:
                self.close()
                raise RuntimeApiError(f"{method} {path}: the connection closed while sending") from None

    def closed_by_server(self) -> bool:
        """Whether the server closed the connection while a reply is awaited (no byte of it has come)."""
        if self._sock is None or self._buffer:
            return False
        assert self._idle is not None
        if not self._idle.poll(0):
            return False
        try:
            return not self._sock.recv(1, _socket.MSG_PEEK)
        except OSError:
            return True

    def wait_for_reply(self, wakeup_fd: int) -> None:
        """Block until the reply starts to arrive, waking up on `wakeup_fd` too.

        The kernel may deliver SIGTERM to any thread of the process. Python runs the handler on the main thread, but
        a main thread blocked in `recv` would not notice until the reply came; `signal.set_wakeup_fd` makes every
        signal readable on `wakeup_fd`, so the main thread returns to Python and the handler runs at once.
        """
        if self._buffer or self._sock is None:
            return
        poller = self._poller
        if poller is None or self._poll_fd != self._sock.fileno():
            poller = self._poller = select.poll()
            poller.register(self._sock.fileno(), select.POLLIN)
            poller.register(wakeup_fd, select.POLLIN)
            self._poll_fd = self._sock.fileno()
        while True:
            for fd, _ in poller.poll():
                if fd != wakeup_fd:
                    return
                os.read(wakeup_fd, 512)  # the signal handler runs on the next bytecode

    def read_response(self) -> Response:
        try:
            return self._read_response()
        except _ConnectionDropped:
            self.close()
            method, path, head, body = self._unanswered
            if method != "GET":
                raise NoReply(f"{method} {path}: the connection closed before any reply") from None
        # A GET asks again: it changes nothing on the server (and /next during an invocation returns it again).
        try:
            self._send(head, body)
            return self._read_response()
        except _ConnectionDropped:
            self.close()
            raise NoReply(f"{method} {path}: the connection closed before any reply") from None

    def _head(self, method: str, path: str, headers: dict[str, str] | None, body: bytes) -> bytes:
        lines = [f"{method} {path} HTTP/1.1".encode("ascii"), b"Host: " + self._host_header]
        if headers:
            for name, value in headers.items():
                lines.append(f"{name}: {value}".encode("latin-1", "replace"))
        if body or method == "POST":
            lines.append(b"Content-Length: %d" % len(body))
        lines.append(b"\r\n")
        return b"\r\n".join(lines)

    def _send(self, head: bytes, body: bytes) -> None:
        if self._sock is None:
            self._connect()
        assert self._sock is not None
        try:
            if body:
                # One syscall, no copy of a body that may be megabytes long.
                sent = self._sock.sendmsg([head, body])
                total = len(head) + len(body)
                if sent < total:
                    self._sock.sendall((head + body)[sent:])
            else:
                self._sock.sendall(head)
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise _ConnectionDropped from exc

    def _connect(self) -> None:
        host, port = self._target
        error: OSError | None = None
        try:
            # Bytes, not str: a str host makes getaddrinfo look up the "idna" codec, and when that first lookup
            # races with an import in another thread, `encodings` caches the failure for the life of the process
            # ("LookupError: unknown encoding: idna" on every later connection). Seen in CI; the host is ASCII.
            addresses = _socket.getaddrinfo(host.encode("ascii", "replace"), port, 0, _socket.SOCK_STREAM)
        except OSError as exc:
            addresses, error = [], exc
        for family, kind, protocol, _, address in addresses:
            sock = _socket.socket(family, kind, protocol)
            sock.settimeout(None)  # before connect too: a default timeout would apply to it
            try:
                sock.connect(address)
            except OSError as exc:
                sock.close()
                error = exc
                continue
            # Small request/response pairs: without this, Nagle and delayed ACKs add up to 40 ms per call.
            sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
            # Blocking with no timeout whatever `socket.setdefaulttimeout()` user code called: /next long-polls.
            sock.settimeout(None)
            self._sock = sock
            self._idle = select.poll()
            self._idle.register(sock.fileno(), select.POLLIN)
            return
        raise RuntimeApiError(f"cannot connect to the Runtime API at {host}:{port}: {error}")

    def _recv(self) -> bytes:
        assert self._sock is not None
        try:
            return self._sock.recv(_RECV_SIZE)
        except ConnectionResetError as exc:
            raise _ConnectionDropped from exc

    def _read_response(self) -> Response:
        buffer = self._buffer
        got_bytes = bool(buffer)
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end >= 0:
                break
            if len(buffer) > _MAX_HEAD_BYTES:
                self.close()
                raise RuntimeApiError("response head larger than 64 KiB")
            chunk = self._recv()
            if not chunk:
                if got_bytes:
                    self.close()
                    raise RuntimeApiError("connection closed in the middle of a response head")
                raise _ConnectionDropped
            got_bytes = True
            buffer += chunk
        raw_head = bytes(buffer[:end])
        del buffer[: end + 4]
        status_line, _, header_block = raw_head.decode("latin-1").partition("\r\n")
        parts = status_line.split(" ", 2)
        # isdigit() alone accepts "²", which int() refuses: numbers from the wire are ASCII digits (also below).
        if len(parts) < 2 or len(parts[1]) != 3 or not parts[1].isdigit() or not parts[1].isascii():
            self.close()
            raise RuntimeApiError(f"not an HTTP/1.x status line: {status_line[:100]!r}")
        if not parts[0].startswith("HTTP/1."):
            self.close()
            raise RuntimeApiError(f"not an HTTP/1.x status line: {status_line[:100]!r}")
        status = int(parts[1])
        if 100 <= status < 200 and status != 101:
            # An interim 100 Continue nobody asked for precedes the real reply (awslambdaric skips it too).
            return self._read_response()
        headers: dict[str, str] = {}
        for line in header_block.split("\r\n"):
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()

        if status in (101, 204, 304):
            body = b""
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = self._read_chunked()
        elif "content-length" in headers:
            field = headers["content-length"]
            if not (field.isdigit() and field.isascii() and len(field) <= 20):
                self.close()
                raise RuntimeApiError(f"bad Content-Length: {field[:40]!r}")
            length = int(field)
            body = self._read_exactly(length if length <= MAX_BODY_BYTES else self._too_long(length))
        else:
            body = self._read_until_close()
        if headers.get("connection", "").lower() == "close" or parts[0] == "HTTP/1.0":
            self.close()
        return Response(status, headers, body)

    def _too_long(self, length: int) -> NoReturn:
        """A body longer than a reply can hold is refused before anything is allocated for it."""
        self.close()
        raise RuntimeApiError(f"a reply body of {length} bytes, more than the {MAX_BODY_BYTES} the runtime accepts")

    def _read_exactly(self, length: int) -> bytes:
        buffer = self._buffer
        if len(buffer) >= length:
            body = bytes(buffer[:length])
            del buffer[:length]
            return body
        # A large body (an event of up to 6 MB): the rest in one call that waits for all of it.
        assert self._sock is not None
        parts = [bytes(buffer)]
        received = len(buffer)
        buffer.clear()
        while received < length:
            try:
                chunk = self._sock.recv(length - received, _socket.MSG_WAITALL)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                self.close()
                raise RuntimeApiError(f"connection closed after {received} of {length} body bytes")
            parts.append(chunk)
            received += len(chunk)
        return b"".join(parts)

    def _read_line(self) -> bytes:
        buffer = self._buffer
        while True:
            end = buffer.find(b"\r\n")
            if end >= 0:
                line = bytes(buffer[:end])
                del buffer[: end + 2]
                return line
            if len(buffer) > _MAX_HEAD_BYTES:
                self.close()
                raise RuntimeApiError("chunk header line too long")
            chunk = self._recv()
            if not chunk:
                self.close()
                raise RuntimeApiError("connection closed inside a chunked body")
            buffer += chunk

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            size_field = self._read_line().split(b";", 1)[0].strip().decode("latin-1")
            if not size_field or len(size_field) > 16 or not _HEX_DIGITS.issuperset(size_field):
                self.close()
                raise RuntimeApiError(f"bad chunk size {size_field[:20]!r}")
            size = int(size_field, 16)
            if size == 0:
                while self._read_line():  # trailers, up to the empty line
                    pass
                return b"".join(parts)
            total += size
            if total > MAX_BODY_BYTES:
                self._too_long(total)
            parts.append(self._read_exactly(size))
            if self._read_exactly(2) != b"\r\n":
                self.close()
                raise RuntimeApiError("chunk not followed by CRLF")

    def _read_until_close(self) -> bytes:
        parts = [bytes(self._buffer)]
        self._buffer.clear()
        while chunk := self._recv():
            parts.append(chunk)
        self.close()
        return b"".join(parts)


class _ConnectionDropped(Exception):
    """The server closed the connection before any byte of the response."""


def is_number(text: str) -> bool:
    """ASCII digits only: `str.isdigit()` also accepts "²" and other digits `int()` refuses or reads otherwise."""
    return text.isascii() and text.isdigit()


class RuntimeApi:
    """The Runtime API calls of the loop, named after its verbs (§1.2)."""

    def __init__(self, address: str, wakeup_fd: int | None = None) -> None:
        self.address = address
        self._http = HttpConnection(address)
        self._wakeup_fd = wakeup_fd

    def close(self) -> None:
        self._http.close()

    def next_invocation(self) -> InvocationRequest:
        """`GET /runtime/invocation/next`: block until Lambda hands out the next event."""
        self.send_next()
        return self.read_next()

    def send_next(self) -> None:
        """Send `GET /runtime/invocation/next`: for Lambda, the runtime is done with the current invocation."""
        self._http.send_request("GET", RUNTIME_PREFIX + "/invocation/next")

    def read_next(self) -> InvocationRequest:
        """Block until the reply to `send_next()`: the next event."""
        if self._wakeup_fd is not None:
            self._http.wait_for_reply(self._wakeup_fd)
        response = self._http.read_response()
        if response.status != 200:
            raise RuntimeApiError(f"/next answered {response.status}: {_text(response.body)}")
        return parse_invocation(response.headers, response.body)

    def post_response(self, request_id: str, body: bytes, content_type: str, invocation_id: str | None = None) -> None:
        """`POST /runtime/invocation/{id}/response`: for a synchronous caller, the moment it gets the result."""
        headers = {"Content-Type": content_type}
        if invocation_id is not None:
            headers[_INVOCATION_ID_HEADER] = invocation_id
        self._post(f"{RUNTIME_PREFIX}/invocation/{request_id}/response", headers, body)

    def post_error(
        self,
        request_id: str,
        body: bytes,
        error_type: str,
        xray_cause: bytes | None = None,
        invocation_id: str | None = None,
    ) -> None:
        """`POST /runtime/invocation/{id}/error` with the error type header awslambdaric leaves out (§1.4, §5.2)."""
        headers = {"Content-Type": "application/json", _ERROR_TYPE_HEADER: _error_type_header(error_type)}
        if xray_cause is not None and len(xray_cause) < _XRAY_CAUSE_MAX_BYTES:
            headers[_XRAY_CAUSE_HEADER] = xray_cause.decode("ascii")
        if invocation_id is not None:
            headers[_INVOCATION_ID_HEADER] = invocation_id
        self._post(f"{RUNTIME_PREFIX}/invocation/{request_id}/error", headers, body)

    def post_init_error(self, body: bytes, error_type: str) -> None:
        """`POST /runtime/init/error`: the function could not start; the runtime exits after this."""
        headers = {"Content-Type": "application/json", _ERROR_TYPE_HEADER: _error_type_header(error_type)}
        self._post(RUNTIME_PREFIX + "/init/error", headers, body)

    def _post(self, path: str, headers: dict[str, str], body: bytes) -> None:
        response = self._http.request("POST", path, headers, body)
        if response.status == 202:
            return
        if 400 <= response.status < 500:
            raise RejectedRequest(path, response.status, response.body)
        # 500: "Container error. Non-recoverable state. Runtime should exit promptly." (§1.2)
        raise RuntimeApiError(f"{path} answered {response.status}: {_text(response.body)}")


class ExtensionApi:
    """The Extensions API calls of the internal extension, on a connection of its own (§3.1)."""

    def __init__(self, address: str) -> None:
        self._http = HttpConnection(address)
        self.extension_id = ""

    def close(self) -> None:
        self._http.close()

    def register(self, name: str, events: list[str]) -> None:
        """`POST /extension/register`; Lambda closes registration at the runtime's first `/next` (§3.3)."""
        # Event names are fixed words (INVOKE, SHUTDOWN): no JSON library needed for this body.
        body = ('{"events": [' + ", ".join(f'"{event}"' for event in events) + "]}").encode()
        response = self._http.request("POST", EXTENSION_PREFIX + "/register", {_EXTENSION_NAME_HEADER: name}, body)
        if response.status != 200:
            raise RejectedRequest(EXTENSION_PREFIX + "/register", response.status, response.body)
        extension_id = response.headers.get(_EXTENSION_ID_HEADER.lower())
        if not extension_id:
            raise RuntimeApiError("/extension/register answered without a Lambda-Extension-Identifier")
        self.extension_id = extension_id

    def send_next(self) -> None:
        """Send `GET /extension/event/next`: for Lambda, the extension is done with the current invocation."""
        self._http.send_request("GET", EXTENSION_PREFIX + "/event/next", {_EXTENSION_ID_HEADER: self.extension_id})

    def connection_lost(self) -> bool:
        """Whether Lambda closed the connection of the pending `event/next` (it will never answer it)."""
        return self._http.closed_by_server()

    def read_event(self) -> bytes:
        """Block until the reply to `send_next()`, the next INVOKE event; returns its JSON."""
        response = self._http.read_response()
        if response.status != 200:
            raise RejectedRequest(EXTENSION_PREFIX + "/event/next", response.status, response.body)
        return response.body


def parse_invocation(headers: dict[str, str], body: bytes) -> InvocationRequest:
    """Build the typed invocation from `/next`'s lower-cased headers; a reply without a request id is unusable."""
    request_id = headers.get(_REQUEST_ID)
    if not request_id:
        raise RuntimeApiError("/next answered without a Lambda-Runtime-Aws-Request-Id header")
    if not (request_id.isascii() and request_id.isprintable()) or " " in request_id:
        # It goes into the request line of /response: no result could be posted for it. Refused before the handler
        # runs, so no work of this invocation is started and then lost.
        raise RuntimeApiError(f"/next answered a request id that cannot go in a request line: {request_id[:60]!r}")
    trace_id = headers.get(_TRACE_ID)
    if trace_id is not None and "\0" in trace_id:  # it becomes _X_AMZN_TRACE_ID, and no environment value holds one
        raise RuntimeApiError("/next answered a Lambda-Runtime-Trace-Id with a NUL byte")
    deadline = headers.get(_DEADLINE_MS, "")
    if not is_number(deadline):
        raise RuntimeApiError(f"/next answered a Lambda-Runtime-Deadline-Ms that is not a number: {deadline[:40]!r}")
    return InvocationRequest(
        request_id=request_id,
        deadline_ms=int(deadline),
        invoked_function_arn=headers.get(_FUNCTION_ARN),
        trace_id=trace_id,
        client_context=headers.get(_CLIENT_CONTEXT),
        cognito_identity=headers.get(_COGNITO_IDENTITY),
        tenant_id=headers.get(_TENANT_ID),
        content_type=headers.get(_CONTENT_TYPE),
        invocation_id=headers.get(_INVOCATION_ID),
        body=body,
    )


def _error_type_header(error_type: str) -> str:
    """RAPID keeps only `(Runtime|Function).Name` in the error type header (§1.4): exceptions go as `Function.Name`."""
    if error_type.startswith(("Runtime.", "Function.")):
        return error_type
    letters = "".join(ch for ch in error_type.rpartition(".")[2] if ch.isascii() and ch.isalpha())
    return "Function." + (letters[:1].upper() + letters[1:] if letters else "Unknown")


def _text(body: bytes) -> str:
    return body.decode("utf-8", "replace")[:500]
