"""The internal extension: keeps Lambda's invocation open through the after-response phase, and watches its deadline.

Why an extension at all (platform §3.3-3.4): registering one makes Lambda send SIGTERM before shutting the environment
down, which is what lets `@on_shutdown` hooks run; and an INVOKE-subscribed extension that has not called next yet keeps
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

from .api import ExtensionApi, RejectedRequest, RuntimeApiError
from .logs import runtime_logger, thread_warning
from .phase import Activity

# While no invocation runs, the watchdog looks at the activity this often (a frozen environment uses no CPU).
_IDLE_POLL_S = 0.25
# How often a broken event/next connection is opened again before the extension counts as failed.
_RETRIES = 3


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
        #: why the extension stopped for good, once it has: the loop then ends the runtime (exit code 2)
        self.failed: str | None = None

    def start(self) -> None:
        """Register in the background; `wait_registered()` must return before the runtime's first `/next`."""
        # Like a daemon thread: the process does not wait for it at exit.
        _thread.start_new_thread(self._run, ())

    def wait_registered(self, timeout_s: float = 5.0) -> bool:
        # Registration closes at the runtime's first /next: later attempts get 403 RegistrationClosed (platform §3.3).
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
            # INVOKE only: internal extensions may not subscribe to SHUTDOWN (platform §3.2).
            self._api.register(self._name, ["INVOKE"])
            self._api.send_next()
        except Exception as exc:
            thread_warning(
                f"internal extension: registration failed, running without it (no SIGTERM at shutdown): {exc}"
            )
            self._registered.release()
            return
        self.active = True
        self._registered.release()
        try:
            while True:
                self._wait_phase_done()
                self._next_event()
        except Exception as exc:
            # Lambda waits for this extension's event/next at every invocation: without it every later invocation
            # would stay open until its timeout. The loop exits after the current phase instead (exit code 2).
            self.failed = f"internal extension: event/next failed: {exc}"
            thread_warning(self.failed + "; the runtime exits after this invocation so Lambda starts a fresh one")

    def _next_event(self) -> None:
        """Read the event Lambda released this extension with, then tell Lambda it is done with it.

        A connection that breaks is opened again and event/next sent again (up to 3 times, 0.1 s doubling, as
        awslambdaric retries /next); a refusal (a status other than 200) is final.
        """
        for attempt in range(_RETRIES + 1):
            try:
                self._api.read_event()
                self._api.send_next()
                return
            except RejectedRequest:
                raise
            except RuntimeApiError as exc:
                if attempt == _RETRIES:
                    raise
                thread_warning(f"internal extension: event/next failed, asking again: {exc}")
                time.sleep(0.1 * 2**attempt)
                self._api.close()
                self._api.send_next()

    def _wait_phase_done(self) -> None:
        # Block at once: this thread has just sent event/next, which opens Lambda's gate for the next invocation,
        # and any bytecode it runs before blocking holds the GIL the main thread needs for that invocation. While
        # idle there is nothing to watch; the invocation, if one starts, is looked at after the first idle tick.
        if self._phases_done.acquire(timeout=_IDLE_POLL_S):
            return
        warned_for: str | None = None
        while True:
            warn_at_ms = None if warned_for == self._activity.request_id else self._warn_at_ms()
            timeout = _IDLE_POLL_S if warn_at_ms is None else max(warn_at_ms / 1000 - time.time(), 0.0)
            if self._phases_done.acquire(timeout=timeout):
                return
            running = self._activity.name
            warn_at_ms = None if warned_for == self._activity.request_id else self._warn_at_ms()
            if running is None and self._api.connection_lost():
                # Idle, and the event/next that tells Lambda this extension is done was dropped: without another
                # one Lambda would wait for it until the invocation times out.
                thread_warning("internal extension: the event/next connection was closed, asking again")
                self._api.close()
                self._api.send_next()
                continue
            if warn_at_ms is None or running is None or time.time() * 1000 < warn_at_ms:
                continue
            warned_for = self._activity.request_id
            deadline_ms = self._activity.deadline_ms or 0
            thread_warning(
                f"watchdog: {running} is still running {max(deadline_ms - time.time() * 1000, 0):.0f} ms before "
                "the deadline; Lambda will end the invocation with a timeout and start a fresh environment",
                hook=running,
            )

    def _warn_at_ms(self) -> float | None:
        """When to warn about the running item: the margin before the deadline; None while idle.

        A coroutine the runtime cancels itself at `cancel_at_ms` is no alarm: only one still running half a margin
        after that (it blocks without awaiting, so it cannot be cancelled) is.
        """
        activity = self._activity
        deadline_ms = activity.deadline_ms
        if activity.request_id is None or deadline_ms is None:
            return None
        warn_at_ms: float = deadline_ms - self._margin_ms
        cancel_at_ms = activity.cancel_at_ms
        if cancel_at_ms is not None:
            warn_at_ms = max(warn_at_ms, cancel_at_ms) + self._margin_ms / 2
        return warn_at_ms
