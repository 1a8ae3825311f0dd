"""The internal extension: keeps Lambda's invocation open through the after-response phase, and watches its deadline.

Why an extension at all (§3.3-3.4): registering one makes Lambda send SIGTERM before shutting the environment down,
which is what lets `@on_shutdown` hooks run; and an INVOKE-subscribed extension that has not called next yet keeps
the invocation (and so the phase) open on Lambda's side even if the runtime's own next call were made early.

Its thread never competes with the handler for the GIL at the start of an invocation: it sends
`GET /extension/event/next` as soon as a phase is done, but reads Lambda's reply (the next INVOKE event) only when
the runtime reports that invocation's phase done too. While it waits it knows the deadline from the main thread's
published activity and warns, naming the hook still running, when the deadline gets close (docs/design.md).
"""

from __future__ import annotations

# `_thread`, not `threading`: `threading` and the `functools` and `collections` it imports cost ~1.5 ms of every
# cold start, for one daemon thread and two locks. (`threading.Lock` is `_thread.allocate_lock`.)
import _thread
import time

from .api import ExtensionApi
from .hooks import Activity
from .logs import runtime_logger

# While no invocation runs, the watchdog looks at the activity this often (a frozen environment uses no CPU).
_IDLE_POLL_S = 0.25


class InternalExtension:
    def __init__(self, address: str, name: str, activity: Activity, margin_ms: int) -> None:
        self._api = ExtensionApi(address)
        self._name = name
        self._activity = activity
        self._margin_ms = margin_ms
        # Plain locks used as one-shot signals: a locked lock is "not yet". One futex call each way, where a
        # Semaphore or an Event goes through a Condition (docs/design.md, "The internal extension").
        self._phases_done = _thread.allocate_lock()
        self._phases_done.acquire()
        self._registered = _thread.allocate_lock()
        self._registered.acquire()
        self.active = False

    def start(self) -> None:
        """Register in the background; `wait_registered()` must return before the runtime's first `/next`."""
        # Like a daemon thread: the process does not wait for it at exit.
        _thread.start_new_thread(self._run, ())

    def wait_registered(self, timeout_s: float = 5.0) -> bool:
        # Lambda closes registration at the runtime's first /next: later attempts get 403 RegistrationClosed (§3.3).
        if not self._registered.acquire(timeout=timeout_s):
            runtime_logger().warning(
                "internal extension: registration took over %.0f s; going on without it", timeout_s
            )
            self.active = False
        return self.active

    def phase_done(self) -> None:
        """The runtime finished an invocation's after-response phase: let Lambda know through the extension."""
        # Never twice in a row: Lambda hands out the next invocation only after this one's `event/next`, which the
        # extension thread sends after taking the lock.
        if self.active and self._phases_done.locked():
            self._phases_done.release()

    def _run(self) -> None:
        try:
            # INVOKE only: internal extensions may not subscribe to SHUTDOWN (§3.2).
            self._api.register(self._name, ["INVOKE"])
            self._api.send_next()
        except Exception as exc:
            runtime_logger().warning(
                "internal extension: registration failed, running without it (no SIGTERM at shutdown): %s", exc
            )
            self._registered.release()
            return
        self.active = True
        self._registered.release()
        try:
            while True:
                self._wait_phase_done()
                self._api.read_event()
                self._api.send_next()
        except Exception as exc:
            self.active = False
            runtime_logger().warning("internal extension: stopped, the runtime goes on without it: %s", exc)

    def _wait_phase_done(self) -> None:
        warned_for: str | None = None
        while True:
            request_id = self._activity.request_id
            deadline_ms = self._activity.deadline_ms
            # When to warn: the margin before the deadline of an invocation not warned about yet; None while idle.
            warn_at_ms = None
            if request_id is not None and deadline_ms is not None and warned_for != request_id:
                warn_at_ms = deadline_ms - self._margin_ms
            timeout = _IDLE_POLL_S if warn_at_ms is None else max(warn_at_ms / 1000 - time.time(), 0.0)
            if self._phases_done.acquire(timeout=timeout):
                return
            running = self._activity.name
            if warn_at_ms is None or running is None:
                continue
            if time.time() * 1000 >= warn_at_ms:
                warned_for = request_id
                runtime_logger().warning(
                    "watchdog: %s is still running %d ms before the deadline; Lambda will end the invocation "
                    "with a timeout and start a fresh environment",
                    running,
                    max(warn_at_ms + self._margin_ms - time.time() * 1000, 0),
                    extra={"hook": running},
                )
