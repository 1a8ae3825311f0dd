"""The after-response API: `@after_response` hooks, per-invocation `defer()`, `@on_shutdown`, and the registry.

What the phase does with them (phase.py, README "The after-response phase"): deferred tasks first, in the order
deferred, then hooks in registration order, work deferred while an item runs right after that item; a failing item
is logged and the next one runs; what does not fit before the deadline is skipped by name.
"""

from __future__ import annotations

import _thread
import sys

from ._typing import overload
from .invocation import Invocation

TYPE_CHECKING = False  # `typing` costs ~8 ms of cold start: it is for the type checker only
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, Literal, TypeVar

    When = Literal["always", "success", "error"]
    F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["DeferError", "DeferScope", "Invocation", "Registry", "Task", "after_response", "defer", "on_shutdown"]

_WHEN = ("always", "success", "error")


class DeferError(RuntimeError):
    """`defer()` was called where it cannot work: outside an invocation, from a thread of an invocation that is over,
    or past the per-invocation limit."""


class Task:
    """One piece of after-response work: a hook, a deferred call, or a shutdown hook."""

    __slots__ = ("args", "every", "fn", "is_hook", "kwargs", "name", "on_skip", "runs", "timeout", "when")

    def __init__(
        self,
        fn: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        name: str | None = None,
        timeout: float | None = None,
        when: When = "always",
        every: int = 1,
        is_hook: bool = False,
        on_skip: Callable[[], None] | None = None,
    ) -> None:
        self.fn = fn
        #: an @after_response hook, called with the invocation; other tasks are called with their own arguments
        self.is_hook = is_hook
        self.args = args
        self.kwargs = kwargs or {}
        self.name = name or _name_of(fn)
        self.timeout = timeout
        self.when = when
        self.every = every
        self.runs = 0
        #: what to do instead when the task is skipped (the GC option turns automatic collection back on)
        self.on_skip = on_skip

    def call(self, invocation: Invocation | None) -> Any:
        if self.is_hook:
            return self.fn(invocation)
        if hasattr(self.fn, "__await__"):  # a coroutine object handed to defer() as it is
            return self.fn
        return self.fn(*self.args, **self.kwargs)

    def skipped(self) -> None:
        """The task will not run: close a coroutine object (no "never awaited" warning), run `on_skip`."""
        _close_if_coroutine(self.fn)
        if self.on_skip is not None:
            self.on_skip()


class Registry:
    """The global hooks. The module-level `registry` backs the decorators; tests may build their own."""

    def __init__(self) -> None:
        self.hooks: list[Task] = []
        self.shutdown: list[Task] = []


registry = Registry()


@overload
def after_response(fn: F, /) -> F: ...
@overload
def after_response(
    *, timeout: float | None = None, when: When = "always", every: int = 1, name: str | None = None
) -> Callable[[F], F]: ...
def after_response(
    fn: Any = None,
    /,
    *,
    timeout: float | None = None,
    when: When = "always",
    every: int = 1,
    name: str | None = None,
) -> Any:
    """Register `fn(invocation)` to run after every invocation's response, in registration order.

    `fn` may be a plain function or an `async def`. Options:
    - `timeout`: seconds the hook may take; it runs only when that much time is left before the deadline, and a
      coroutine is cancelled when it runs out;
    - `when`: "always" (default), "success" or "error": which invocations it runs after;
    - `every`: run after one invocation in `every` (e.g. 10 for a periodic flush);
    - `name`: the name logs use (default: the function's qualified name).
    """
    if when not in _WHEN:
        raise ValueError(f"when must be one of {_WHEN}, not {when!r}")
    if every < 1:
        raise ValueError(f"every must be >= 1, not {every!r}")
    if timeout is not None and timeout <= 0:
        raise ValueError(f"timeout must be > 0 seconds, not {timeout!r}")

    def register(hook: F) -> F:
        registry.hooks.append(Task(hook, name=name, timeout=timeout, when=when, every=every, is_hook=True))
        if served_elsewhere():
            _warn_elsewhere(f"@after_response hook {_name_of(hook)} will not run")
        return hook

    return register(fn) if fn is not None else register


@overload
def on_shutdown(fn: F, /) -> F: ...
@overload
def on_shutdown(*, name: str | None = None) -> Callable[[F], F]: ...
def on_shutdown(fn: Any = None, /, *, name: str | None = None) -> Any:
    """Register `fn()` (plain or `async def`) to run when Lambda shuts the environment down (SIGTERM).

    Lambda grants a runtime with an internal extension 500 ms for this (platform §3.4); what does not fit is skipped and
    logged. Deferred work that had not run yet runs first.
    """

    def register(hook: F) -> F:
        registry.shutdown.append(Task(hook, name=name))
        if served_elsewhere():
            _warn_elsewhere(f"@on_shutdown hook {_name_of(hook)} will not run")
        return hook

    return register(fn) if fn is not None else register


_OUTSIDE = "defer() called outside an invocation: call it from a handler or an after-response hook"

# The attribute `defer()` reads on a thread object: the invocation (or "init") during which the thread was started.
_THREAD_OWNER = "_runtime_started_during"


class DeferScope:
    """Where `defer()` puts work: the open invocation, from its start to the end of its after-response phase.

    Each phase runner owns one; `defer()` uses the one whose runner began the current invocation. A plain object,
    not a ContextVar, so that threads the handler starts can defer work too; a thread started during an earlier
    invocation cannot (its invocation is over), so work never runs in another invocation's phase. The lock makes
    "accept the task" and "close the scope once nothing is left" one step each: a thread's `defer()` is either run
    in this phase or refused, never accepted and then dropped.
    """

    __slots__ = ("count", "limit", "lock", "main_thread", "request_id", "work")

    def __init__(self, limit: int) -> None:
        self.lock = _thread.allocate_lock()
        #: the open invocation's request id; None between invocations
        self.request_id: str | None = None
        self.work: list[Task] = []
        self.count = 0
        self.limit = limit
        #: the loop's thread: its calls belong to the open invocation whatever threads exist
        self.main_thread = _thread.get_ident()

    def open(self, request_id: str) -> None:
        # No lock: the scope is closed, and only threads started before now could race, which defer() refuses.
        self.work = []
        self.count = 0
        self.request_id = request_id
        _active.scope = self

    def take(self) -> list[Task]:
        """The work deferred since the last call, in order."""
        if not self.work:  # read without the lock: what a thread adds now is taken by the next call
            return []
        with self.lock:
            work, self.work = self.work, []
        return work

    def close_if_done(self) -> bool:
        """Close the scope if nothing deferred is waiting; a late `defer()` from a thread is then refused."""
        with self.lock:
            if self.work:
                return False
            self.request_id = None
            return True

    def close(self) -> None:
        if self.request_id is not None:
            with self.lock:
                self.request_id = None
                self.work = []

    def reopen(self, label: str) -> None:
        """Open a closed scope again (the shutdown phase: work deferred during it runs too, while the budget lasts)."""
        with self.lock:
            if self.request_id is None:
                self.work = []
                self.request_id = label

    def add(self, fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        owner = _thread_owner(self.main_thread)
        with self.lock:
            request_id = self.request_id
            if request_id is None:
                problem = _OUTSIDE
            elif owner is not None and owner != request_id:
                problem = (
                    f"defer() called from a thread started during {_describe_owner(owner)}, which is over: "
                    f"{_name_of(fn)} would run in another invocation's phase; defer it from that invocation"
                )
            elif self.count >= self.limit:
                problem = (
                    f"defer() called more than {self.limit} times in one invocation (RUNTIME_MAX_DEFERRED); "
                    f"{_name_of(fn)} was not scheduled"
                )
            else:
                self.count += 1
                self.work.append(Task(fn, args, kwargs))
                return
        _close_if_coroutine(fn)
        raise DeferError(problem)


class _Active:
    """The scope of the runner that began the current invocation (one runner per process, but tests make more)."""

    scope: DeferScope | None = None


_active = _Active()


def defer(fn: Any, /, *args: Any, **kwargs: Any) -> None:
    """Run `fn(*args, **kwargs)` after this invocation's response has been sent.

    `fn` may be a plain function, an `async def` function, or a coroutine object. Work deferred from an
    after-response hook or deferred task runs right after it. Raises `DeferError` outside an invocation, from a
    thread started during an invocation that is over, and past `RUNTIME_MAX_DEFERRED` tasks in one invocation.
    """
    if not callable(fn) and not hasattr(fn, "__await__"):
        raise TypeError(f"defer() needs a callable or a coroutine, not {type(fn).__name__}")
    scope = _active.scope
    if (scope is None or scope.request_id is None) and served_elsewhere():
        _run_now(fn, args, kwargs)
        return
    if scope is None:
        _close_if_coroutine(fn)
        raise DeferError(_OUTSIDE)
    scope.add(fn, args, kwargs)


def served_elsewhere() -> bool:
    """Whether another runtime serves this process (awslambdaric, a managed Python runtime): this runtime's loop,
    which runs the after-response phase, is not running here."""
    if "runtime.main" in sys.modules:
        return False
    import os

    # awslambdaric's loop is its `bootstrap` module (importing one of its helpers, as a test may, serves nothing).
    serving = "awslambdaric.bootstrap" in sys.modules
    return serving or os.environ.get("AWS_EXECUTION_ENV", "").startswith("AWS_Lambda_python")


class _Elsewhere:
    warned = False


def _warn_elsewhere(what: str) -> None:
    """One warning per process: this package is imported, but another runtime serves the function."""
    if _Elsewhere.warned:
        return
    _Elsewhere.warned = True
    import logging

    logging.getLogger("runtime").warning(
        "%s: this function is served by another runtime (awslambdaric or a managed Python runtime), not by this "
        "runtime's bootstrap; after-response hooks do not run here and defer() runs its work at once, before the "
        'response (README "Under another runtime")',
        what,
    )


def _run_now(fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """`defer()` under another runtime: the work runs now, before the response, rather than never. Its failure is
    logged, as in the phase, and does not fail the handler."""
    _warn_elsewhere(f"defer({_name_of(fn)})")
    import logging

    result: Any = None
    try:
        result = fn if hasattr(fn, "__await__") else fn(*args, **kwargs)
        if hasattr(result, "__await__"):
            from . import aio

            aio.result_of(result)
    except Exception as exc:
        _close_if_coroutine(result)
        logging.getLogger("runtime").error("deferred %s failed: %r", _name_of(fn), exc, exc_info=exc)


def _thread_owner(main_thread: int) -> str | None:
    """The invocation during which the calling thread was started, if it is not the loop's thread."""
    if _thread.get_ident() == main_thread:
        return None
    threading = sys.modules.get("threading")  # no `threading`, no thread that could have been tagged
    if threading is None:
        return None
    owner: str | None = getattr(threading.current_thread(), _THREAD_OWNER, None)
    return owner


def _describe_owner(owner: str) -> str:
    return "init" if owner == "init" else f"invocation {owner}"


def tag_threads(owner: str) -> None:
    """Mark every running thread not marked yet as started during `owner` (an invocation that ends now, or init)."""
    threading = sys.modules.get("threading")
    if threading is None or threading.active_count() < 2:
        return
    for thread in threading.enumerate():
        if not hasattr(thread, _THREAD_OWNER):
            setattr(thread, _THREAD_OWNER, owner)


def _name_of(fn: Any) -> str:
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    if isinstance(name, str):
        module = getattr(fn, "__module__", None)
        return f"{module}.{name}" if module and module not in ("__main__", "builtins") else name
    return repr(fn)


def _close_if_coroutine(fn: Any) -> None:
    if hasattr(fn, "__await__") and hasattr(fn, "close"):
        fn.close()
