"""A small keep-alive HTTP/1.1 client over one socket: what the Runtime API client (`api.py`) sends its requests with.

It knows HTTP, not Lambda: no path or header of the Runtime API is in this module (api.py has them all). It sits on
every invocation's critical path, which is why it is not urllib3 or http.client: docs/design.md "HTTP client" has
the measurements that led to it.
"""

from __future__ import annotations

# `_socket`, not `socket`: the module `socket` spends ~2 ms of every cold start building enums of its constants.
import _socket
import select

from ._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Final, NoReturn

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


class Response:
    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


class HttpConnection:
    """A keep-alive HTTP/1.1 connection to one host:port, reopened when the server closes it.

    Blocking, no timeout: `/next` and `/extension/event/next` long-poll and the process may be frozen for a long
    time between two bytes (platform §1.2). A signal handler that raises interrupts a wait.
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

    def wait_readable(self, timeout_s: float) -> bool:
        """Whether the reply starts to arrive within `timeout_s` (or the connection is gone: reading will say so)."""
        if self._buffer or self._idle is None:
            return True
        return bool(self._idle.poll(timeout_s * 1000))

    def fileno(self) -> int:
        """The socket's descriptor (an event loop waits for the reply on it); -1 while not connected."""
        return self._sock.fileno() if self._sock is not None else -1

    def read_response(self, ask_again: bool = True) -> Response:
        """The reply to the last request. A GET whose connection closed before any reply is sent again (unless
        `ask_again` is False: a caller that must not block, an event loop's, takes the NoReply)."""
        try:
            return self._read_response()
        except _ConnectionDropped:
            self.close()
            method, path, head, body = self._unanswered
            if method != "GET" or not ask_again:
                raise NoReply(f"{method} {path}: the connection closed before any reply") from None
        # A GET asks again: it changes nothing on the server (and /next during an invocation returns it again).
        try:
            self._send(head, body)
            return self._read_response()
        except _ConnectionDropped:
            self.close()
            raise NoReply(f"{method} {path}: the connection closed before any reply") from None

    def start_chunked(self, method: str, path: str, headers: dict[str, str]) -> None:
        """Send the head of a request whose body follows in chunks (`send_chunk`, then `end_chunked`). Unlike
        `send_request` it is never sent twice: the body is produced as it goes and cannot be produced again."""
        head = self._head(method, path, {**headers, "Transfer-Encoding": "chunked"}, b"", chunked=True)
        self._unanswered = (method, path, head, b"")
        idle = self._idle
        if idle is not None and (self._buffer or idle.poll(0)):
            self.close()
        try:
            self._send(head, b"")
        except _ConnectionDropped:
            self.close()
            raise RuntimeApiError(f"{method} {path}: the connection closed while sending") from None

    def send_chunk(self, data: bytes) -> None:
        """One chunk of the body, on the wire now (an empty one would end the body: skipped)."""
        if data:
            self._send_or_fail(b"%x\r\n" % len(data), data + b"\r\n")

    def answered_early(self) -> Response | None:
        """The server's reply to a request whose body is still being sent, if one came (a 413 before the end of a
        stream); the connection is closed after it, being out of step. RuntimeApiError if the server closed or
        reset the connection instead. One poll(0) per call."""
        if self._idle is None or not (self._buffer or self._idle.poll(0)):
            return None
        try:
            response = self._read_response()
        except _ConnectionDropped:
            self.close()
            method, path, _, _ = self._unanswered
            raise RuntimeApiError(f"{method} {path}: the connection closed in the middle of the request body") from None
        self.close()
        return response

    def end_chunked(self, trailers: dict[str, str] | None = None) -> Response:
        """The last chunk and the trailers, then the reply."""
        lines = [b"0"] + [f"{name}: {value}".encode("latin-1", "replace") for name, value in (trailers or {}).items()]
        self._send_or_fail(b"\r\n".join(lines) + b"\r\n\r\n", b"")
        return self.read_response()

    def _send_or_fail(self, head: bytes, body: bytes) -> None:
        try:
            self._send(head, body)
        except _ConnectionDropped:
            self.close()
            method, path, _, _ = self._unanswered
            raise RuntimeApiError(f"{method} {path}: the connection closed while sending its body") from None

    def _head(
        self, method: str, path: str, headers: dict[str, str] | None, body: bytes, chunked: bool = False
    ) -> bytes:
        lines = [f"{method} {path} HTTP/1.1".encode("ascii"), b"Host: " + self._host_header]
        if headers:
            for name, value in headers.items():
                lines.append(f"{name}: {value}".encode("latin-1", "replace"))
        if (body or method == "POST") and not chunked:
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
            # Blocking with no timeout, for connect and every later call, whatever `socket.setdefaulttimeout()` user
            # code called: /next long-polls.
            sock.settimeout(None)
            try:
                sock.connect(address)
            except OSError as exc:
                sock.close()
                error = exc
                continue
            # Small request/response pairs: without this, Nagle and delayed ACKs add up to 40 ms per call.
            sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
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
        if (
            len(parts) < 2
            or not parts[0].startswith("HTTP/1.")
            or len(parts[1]) != 3
            or not (parts[1].isdigit() and parts[1].isascii())
        ):
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
