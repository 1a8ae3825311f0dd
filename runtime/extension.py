"""The internal extension: what makes Lambda send SIGTERM at shutdown, and the watchdog of the deadline.

Why an extension at all (platform §3.4): Lambda sends SIGTERM before shutting down an environment with a registered
extension, which is what lets `@on_shutdown` hooks and pending work run. It registers for no events: the runtime's
own `/next`, sent after the after-response phase, is what keeps each invocation open through the phase (platform
§2.1), so an INVOKE subscription would only add a second party Lambda waits for at every invocation (measured:
turnaround 1.7x awslambdaric with it; docs/design.md "The internal extension"). Its one `event/next`, sent during
init as Lambda requires (platform §3.3), is never answered.

Its thread is then the watchdog: it sleeps until the margin before the running invocation's deadline (or a quarter
second while nothing runs) and warns, naming the hook still running, if the main thread has not finished by then.
It never touches the main thread's hot path: no lock and no message per invocation.
"""

from __future__ import annotations

# `_thread`, not `threading`: `threading` and the `functools` and `collections` it imports cost ~1.5 ms of every
# cold start, for one daemon thread.
import _thread
import time

from ._typing import TYPE_CHECKING
from .api import ExtensionApi
from .logs import runtime_logger, thread_warning

if TYPE_CHECKING:
    from .current import Activity
    from .invocation import Request

# How long the watchdog sleeps at most before it looks at the main thread's activity again: a new invocation is seen
# within this (well before any deadline's margin: Lambda's shortest timeout is 1 s). A frozen environment uses no CPU.
_TICK_S = 0.25


class InternalExtension:
    def __init__(self, address: str, name: str, activity: Activity, margin_ms: int) -> None:
        self._api = ExtensionApi(address)
        self._name = name
        self._activity = activity
        self._margin_ms = margin_ms

    def begin_registration(self) -> bool:
        """Send the registration; its answer is read by `finish_registration()`, after the handler's import, so the
        round trip overlaps that import without a thread of its own (main thread; before the first `/next`)."""
        try:
            # No events: see the module's docstring (on Lambda Managed Instances an internal extension may not
            # subscribe to any).
            self._api.send_register(self._name, [])
        except Exception as exc:
            self._registration_failed(exc)
            return False
        return True

    def finish_registration(self, timeout_s: float = 5.0) -> bool:
        """Read the registration's answer, call event/next (init ends once every registered extension has), and start
        the watchdog. False, with one warning, when the extension cannot be registered."""
        try:
            self._api.read_registration(timeout_s)
            self._api.send_next()
        except Exception as exc:
            self._registration_failed(exc)
            return False
        # Like a daemon thread: the process does not wait for it at exit.
        _thread.start_new_thread(self._watch, ())
        return True

    def _registration_failed(self, exc: Exception) -> None:
        self._api.close()
        runtime_logger().warning(
            "internal extension: registration failed, running without it (no SIGTERM at shutdown): %s", exc
        )

    def _watch(self) -> None:
        warned: Request | None = None
        while True:
            request = self._activity.request
            if request is None or request is warned:  # idle, or warned about already
                time.sleep(_TICK_S)
                continue
            warn_at_ms = self._warn_at_ms(request)
            now_ms = time.time() * 1000
            if now_ms < warn_at_ms:
                time.sleep(min((warn_at_ms - now_ms) / 1000, _TICK_S))
                continue
            running = self._activity.name
            if running is None:  # between two items of a phase, or done: look again at the next tick
                time.sleep(0.01)
                continue
            warned = request
            thread_warning(
                f"watchdog: {running} is still running {max(request.deadline_ms - now_ms, 0):.0f} ms before "
                "the deadline; Lambda will end the invocation with a timeout and start a fresh environment",
                hook=running,
            )

    def _warn_at_ms(self, request: Request) -> float:
        """When to warn about the invocation's running item: the margin before its deadline.

        A coroutine the runtime cancels itself at `cancel_at_ms` is no alarm: only one still running half a margin
        after that (it blocks without awaiting, so it cannot be cancelled) is.
        """
        warn_at_ms: float = request.deadline_ms - self._margin_ms
        cancel_at_ms = self._activity.cancel_at_ms
        if cancel_at_ms is not None:
            warn_at_ms = max(warn_at_ms, cancel_at_ms) + self._margin_ms / 2
        return warn_at_ms
