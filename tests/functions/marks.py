"""Put an event on the test Runtime API's clock: `mark("hook-start")` is recorded with a timestamp."""

from __future__ import annotations

import http.client
import os
import platform
import threading
import time
from collections.abc import Callable

# The system calls the runtime's main thread blocks in, by the number /proc/PID/task/TID/syscall shows (x86_64 and
# aarch64): `socket` is a wait for a reply (poll, select or a read on the socket: /next, the extension's
# registration), `sleep` is `time.sleep()`.
_SYSCALLS = {
    "x86_64": {"socket": {0, 7, 23, 45, 47, 232, 270, 271, 281}, "sleep": {35, 230}},
    "aarch64": {"socket": {22, 63, 72, 73, 207, 212}, "sleep": {101, 115}},
}


def mark(name: str) -> None:
    connection = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"], timeout=10)
    try:
        connection.request("GET", f"/test/mark/{name}")
        connection.getresponse().read()
    finally:
        connection.close()


def main_thread_blocked_in(call: str) -> bool:
    """Whether the main thread is blocked in the kernel in `call` ("socket" or "sleep") right now."""
    numbers = _SYSCALLS[platform.machine()][call]
    main = threading.main_thread().native_id
    try:
        with open(f"/proc/self/task/{main}/syscall") as status:
            number = status.read().split(" ", 1)[0]
    except OSError:
        return False
    return number.isdigit() and int(number) in numbers


def when_main_thread_blocks(call: str, then: Callable[[], None], timeout_s: float = 10.0) -> None:
    """From a thread of its own: once the main thread is blocked in `call` (in a C call it cannot leave on its own,
    where only a signal reaches it), run `then()`. What a test waits for to know the runtime reached that point:
    a mark written before it is reached would let the test act too early."""

    def watch() -> None:
        deadline = time.monotonic() + timeout_s
        while not main_thread_blocked_in(call):  # bounded by the deadline
            if time.monotonic() > deadline:
                mark(f"main-thread-never-blocked-in-{call}")
                return
            time.sleep(0.001)
        then()

    threading.Thread(target=watch, daemon=True).start()


def mark_when_main_thread_blocks(call: str, name: str) -> None:
    """`mark(name)` once the main thread is blocked in `call` (see `when_main_thread_blocks`)."""
    when_main_thread_blocks(call, lambda: mark(name))
