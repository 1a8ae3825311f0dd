"""The floor: the least a Python runtime can do, run as a script (`python bench/floor.py module.function`).

One blocking socket, `GET /next` → stdlib `json.loads` of the event → the handler → `json.dumps` → `POST /response`,
with no context object, no error handling, no logging setup and no extension. Anything a real runtime does on top of
this is its overhead. Standard library only, so its start-up is the interpreter's plus the handler's imports.
"""

from __future__ import annotations

import importlib
import json
import os
import socket
import sys

_NEXT = b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n"
_MAX_MESSAGES = 10**9
_RECV_SIZE = 64 * 1024  # recv(n) allocates n bytes first: a large n costs an mmap per call


class _Closed(Exception):
    pass


def _read_message(sock: socket.socket, buffer: bytearray) -> tuple[bytes, bytes]:
    """One response (head, body) from the front of `buffer`, reading more as needed; leftovers stay in `buffer`."""
    for _ in range(_MAX_MESSAGES):
        end = buffer.find(b"\r\n\r\n")
        if end >= 0:
            head = bytes(buffer[:end])
            length = _header(head, b"content-length")
            total = end + 4 + (int(length) if length else 0)
            if len(buffer) >= total:
                body = bytes(buffer[end + 4 : total])
                del buffer[:total]
                return head, body
        chunk = sock.recv(_RECV_SIZE)
        if not chunk:
            raise _Closed
        buffer += chunk
    raise _Closed


def _header(head: bytes, name: bytes) -> bytes:
    """The value of header `name` (lower-case) in a response head, b"" when absent."""
    start = head.lower().find(b"\r\n" + name + b":")
    if start < 0:
        return b""
    value_start = start + len(name) + 3
    end = head.find(b"\r\n", value_start)
    return head[value_start : end if end >= 0 else len(head)].strip()


def main() -> None:
    host, _, port = os.environ["AWS_LAMBDA_RUNTIME_API"].rpartition(":")
    sys.path.insert(0, os.environ.get("LAMBDA_TASK_ROOT") or os.getcwd())
    module_name, _, function_name = sys.argv[1].rpartition(".")
    handler = getattr(importlib.import_module(module_name), function_name)
    sock = socket.create_connection((host, int(port)))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buffer = bytearray()
    try:
        for _ in range(_MAX_MESSAGES):
            sock.sendall(_NEXT)
            head, body = _read_message(sock, buffer)
            request_id = _header(head, b"lambda-runtime-aws-request-id")
            result = json.dumps(handler(json.loads(body), None)).encode()
            sock.sendall(
                b"POST /2018-06-01/runtime/invocation/%s/response HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
                % (request_id, len(result), result)
            )
            _read_message(sock, buffer)
    except (_Closed, ConnectionError):
        pass


if __name__ == "__main__":
    main()
