"""A loopback server that runs a script per connection: for Runtime API replies no well-behaved server sends."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

Script = Callable[[socket.socket, int], None]


class RawServer:
    """Accepts connections on loopback and runs `script(connection, index)` for each; records what it read."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.connections = 0
        #: connections whose script has returned and which are closed
        self.finished = 0
        self.received: list[bytes] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            index = self.connections
            self.connections += 1
            threading.Thread(target=self._run, args=(connection, index), daemon=True).start()

    def _run(self, connection: socket.socket, index: int) -> None:
        try:
            with connection:
                self.script(connection, index)
        finally:
            self.finished += 1

    def read_request(self, connection: socket.socket) -> bytes:
        request = read_request(connection)
        self.received.append(request)
        return request

    def close(self) -> None:
        self.listener.close()


def reset(connection: socket.socket) -> None:
    """Close with a TCP reset instead of an orderly FIN."""
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    connection.close()


def read_request(connection: socket.socket) -> bytes:
    """One HTTP request with its Content-Length body; b"" when the client closed the connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            return b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        body += connection.recv(65536)
    return head + b"\r\n\r\n" + body


# Scripted Runtime APIs the e2e tests share ------------------------------------------------------------------------

# The head of a /next reply for invocation "r1", without Content-Length and the blank line.
NEXT_HEAD = b"HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: r1\r\nLambda-Runtime-Deadline-Ms: 9999999999999\r\n"
ACCEPTED = b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}"
FAILED = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 2\r\n\r\n{}"


def is_next(request: bytes) -> bool:
    return b"/invocation/next" in request.split(b"\r\n", 1)[0]


def next_replies(reply: bytes, close: Callable[[socket.socket], None] | None = None) -> Script:
    """A Runtime API whose every /next gets `reply` (and then `close`); other requests get 202."""

    def script(connection: socket.socket, _: int) -> None:
        while request := read_request(connection):
            if is_next(request):
                connection.sendall(reply)
                if close is not None:
                    close(connection)
                return
            connection.sendall(ACCEPTED)

    return script


def serve_then_fail(next_reply: bytes) -> tuple[Script, list[bytes]]:
    """A Runtime API whose first /next gets `next_reply` and later ones 500; posts get 202. Also returns the list
    of requests it receives."""
    received: list[bytes] = []

    def script(connection: socket.socket, _: int) -> None:
        while request := read_request(connection):
            received.append(request)
            if not is_next(request):
                connection.sendall(ACCEPTED)
            else:
                connection.sendall(next_reply if sum(map(is_next, received)) == 1 else FAILED)

    return script, received
