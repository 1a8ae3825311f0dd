"""Handlers that misbehave: keyboard interrupts, unprintable messages, binary output, stray threads and signals."""

from __future__ import annotations

import signal
import socket
import sys
import threading
import time
from typing import Any

from marks import mark  # type: ignore[import-not-found]  # tests/functions is the task root

from runtime import Invocation, after_response, defer, on_shutdown


def keyboard_interrupt(event: Any, context: Any) -> Any:
    raise KeyboardInterrupt


def surrogate_message(event: Any, context: Any) -> Any:
    raise ValueError("bad \udcff bytes")


def binary_garbage(event: Any, context: Any) -> Any:
    sys.stdout.buffer.write(b"\xff\xfe\x00garbage\x80\n")
    sys.stdout.flush()
    return "ok"


def leave_a_thread(event: Any, context: Any) -> Any:
    threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
    return threading.active_count()


def sleep_in_handler(event: Any, context: Any) -> Any:
    defer(mark, "deferred-before-sigterm")
    mark("handler-sleeping")
    time.sleep(30)
    return "never"


def block_in_hook(event: Any, context: Any) -> Any:
    return "ok"


@after_response
def blocking_io(invocation: Invocation) -> None:
    if invocation.event == {"block": True}:
        left, right = socket.socketpair()
        with left, right:
            left.recv(1)  # nobody ever writes


@on_shutdown
def closing() -> None:
    mark("shutdown-hook")


def sigterm_to_another_thread(event: Any, context: Any) -> Any:
    """After this invocation, a thread of the function gets SIGTERM itself while the main thread waits in /next."""

    def later() -> None:
        time.sleep(0.3)
        signal.pthread_kill(threading.get_ident(), signal.SIGTERM)

    threading.Thread(target=later, daemon=True).start()
    return "ok"
