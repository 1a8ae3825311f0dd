"""Handlers that misbehave: keyboard interrupts, unprintable messages, binary output, stray threads and signals."""

from __future__ import annotations

import signal
import socket
import sys
import threading
import time
from typing import Any

from marks import mark, mark_when_main_thread_blocks, when_main_thread_blocks  # type: ignore[import-not-found]

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
    mark_when_main_thread_blocks("sleep", "handler-sleeping")  # once the main thread is inside the sleep below
    time.sleep(30)
    return "never"


def sigterm_to_a_thread_while_the_handler_sleeps(event: Any, context: Any) -> Any:
    """SIGTERM reaches a thread of the function, not the main thread, while the main thread sleeps in the handler (the
    kernel gives a process's signal to any thread that does not block it)."""
    defer(mark, "deferred-before-sigterm")
    when_main_thread_blocks("sleep", lambda: signal.pthread_kill(threading.get_ident(), signal.SIGTERM))
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
    # Deferred: the main thread's next wait on a socket after its phase (the POST's reply is before) is /next's.
    defer(when_main_thread_blocks, "socket", lambda: signal.pthread_kill(threading.get_ident(), signal.SIGTERM))
    return "ok"


def mark_when_waiting_for_next(event: Any, context: Any) -> Any:
    """Returns the event; once the runtime waits in the next /next, marks "waiting-for-next"."""
    defer(mark_when_main_thread_blocks, "socket", "waiting-for-next")  # from the phase, as above
    return event
