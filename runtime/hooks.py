"""The after-response API: `@after_response` hooks, per-invocation `defer()`, `@on_init`, `@on_shutdown`, and the
registry.

What the phase does with them (phase.py, README "The after-response phase"): deferred tasks first, in the order
deferred, then hooks in registration order, work deferred while an item runs right after that item; a failing item
is logged and the next one runs; what does not fit before the deadline is skipped by name.
"""

from __future__ import annotations

import sys

from ._typing import TYPE_CHECKING, overload
from .current import DeferError, not_open_message, open_invocation
from .invocation import Invocation

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, Literal, TypeVar

    When = Literal["always", "success", "error", "ended"]
    F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["DeferError", "Invocation", "Registry", "Task", "after_response", "defer", "on_init", "on_shutdown"]

_WHEN = ("always", "success", "error", "ended")


class Task:
    """One piece of after-response work: a hook, a deferred call, or a shutdown hook."""

    __slots__ = ("_name", "args", "every", "fn", "is_hook", "kwargs", "on_skip", "runs", "timeout", "when")

    def __init__(
        self,
        fn: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        name: str | Callable[[], str] | None = None,
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
        self._name = name or name_of(fn)
        self.timeout = timeout
        self.when = when
        self.every = every
        self.runs = 0
        #: what to do instead when the task is skipped (the GC option turns automatic collection back on)
        self.on_skip = on_skip

    @property
    def name(self) -> str:
        """The name logs and the timeline use: given, made when first asked, or the function's own."""
        name = self._name
        if not isinstance(name, str):
            name = self._name = name()
        return name

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
        #: `@on_init` hooks, in registration order; each one's `runs` says whether it has run
        self.init: list[Task] = []
        #: init has run (`run_init`): an `@on_init` hook registered from now on runs as it is registered
        self.initialised = False


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
    - `when`: which invocations it runs after: "always" (default), "success", "error", or "ended" (every ordinary
      invocation, and only the last of a durable execution: once per execution). A suspended durable invocation
      (PENDING) is neither a success nor an error (README "Durable functions");
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
            _warn_elsewhere(f"@after_response hook {name_of(hook)} will not run")
        return hook

    return register(fn) if fn is not None else register


def on_init(fn: F, /) -> F:
    """Register `fn()` (plain or `async def`) to run once at init: after the handler's module is imported, before the
    first invocation, in registration order.

    An `async def` one runs on the runtime's event loop, the one `async def` handlers, hooks and deferred coroutines
    run on: a client bound to the loop (an `aiohttp.ClientSession`), which cannot be made at import where no loop
    runs, is made here and serves them all. An exception is an init error. Registered once init has run (a module
    imported later), or under another runtime, it runs at once.
    """
    registry.init.append(Task(fn))
    elsewhere = served_elsewhere()
    if elsewhere:
        _warn_elsewhere(f"@on_init hook {name_of(fn)} runs as it is registered")
    if registry.initialised or elsewhere:
        run_init(registry)
    return fn


def run_init(hooks: Registry) -> None:
    """Run the `@on_init` hooks that have not run yet, in registration order, coroutines on the runtime's event loop.
    The first exception propagates: the caller's init fails (a hook that failed runs again at the next attempt, as
    Lambda's next init would run it)."""
    for task in hooks.init:
        if task.runs:
            continue
        result = task.call(None)
        if hasattr(result, "__await__"):
            from . import aio

            aio.result_of(result)
        task.runs += 1
    hooks.initialised = True


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
            _warn_elsewhere(f"@on_shutdown hook {name_of(hook)} will not run")
        return hook

    return register(fn) if fn is not None else register


def defer(fn: Any, /, *args: Any, **kwargs: Any) -> None:
    """Run `fn(*args, **kwargs)` after this invocation's response has been sent.

    `fn` may be a plain function, an `async def` function, or a coroutine object. Work deferred from an
    after-response hook or deferred task runs right after it. Any thread may call it while the invocation is open
    (its handler or its after-response phase running): the work joins that invocation's phase. Raises `DeferError`
    while no invocation is open, and past `RUNTIME_MAX_DEFERRED` tasks in one invocation.
    """
    _defer(fn, args, kwargs, None)


def defer_as(name: str | Callable[[], str], fn: Any, /, *args: Any) -> None:
    """`defer(fn, *args)` under `name` in logs and the timeline (or the name `name()` makes when it is first asked
    for, in the phase): the runtime's own wrappers name the user's work they run (an ASGI app's background tasks),
    not themselves."""
    _defer(fn, args, {}, name)


def _defer(fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any], name: str | Callable[[], str] | None) -> None:
    task = _task(fn, args, kwargs, name)
    try:
        _schedule(task)
    except DeferError:
        _close_if_coroutine(fn)
        raise


def _task(fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any], name: str | Callable[[], str] | None) -> Task:
    if not callable(fn) and not hasattr(fn, "__await__"):
        raise TypeError(f"defer() needs a callable or a coroutine, not {type(fn).__name__}")
    return Task(fn, args, kwargs, name=name)


def _schedule(task: Task) -> None:
    """Put `task` in the open invocation's phase (run now under another runtime, dropped when durable code
    replays it); DeferError where no invocation can take it."""
    if "aws_durable_execution_sdk_python.context" in sys.modules and _durable_replay(task):
        _close_if_coroutine(task.fn)
        return
    lifetime = open_invocation()
    if (lifetime is None or lifetime.deferred.label is None) and served_elsewhere():
        _warn_elsewhere(f"defer({task.name})")
        _run_now(task)
        return
    if lifetime is None:
        raise DeferError(not_open_message())
    lifetime.deferred.add(task)


def defer_or_run(name: str | Callable[[], str], fn: Any, /, *args: Any, warn: bool = True) -> bool:
    """`defer_as(name, fn, *args)`: True. Where no invocation can take the work (a unit test calls the handler, or
    the invocation holds RUNTIME_MAX_DEFERRED tasks), the work runs now, before returning, with a warning unless
    `warn` is False (a caller that has warned once): False. The work the runtime's own adapters hand to the phase
    (an app's background tasks) is never skipped."""
    task = _task(fn, args, {}, name)
    try:
        _schedule(task)
        return True
    except DeferError as exc:
        if warn:
            import logging

            logging.getLogger("runtime").warning("%s: %s; it runs now, before the handler returns", task.name, exc)
        _run_now(task)
        return False


def _durable_replay(task: Task) -> bool:
    """Whether `defer()` is called by durable code that is replaying: an earlier invocation of the execution ran
    this code, and the work it deferred then, so it is not deferred again (runtime/durable.py)."""
    from .durable import replaying

    if not replaying():
        return False
    import logging

    logging.getLogger("runtime").info(
        "defer(%s) not run again: the durable execution replays code an earlier invocation ran, which ran this work "
        '(README "Durable functions")',
        task.name,
    )
    return True


def served_elsewhere() -> bool:
    """Whether another runtime serves this process (awslambdaric, a managed Python runtime): this runtime's loop,
    which runs the after-response phase, is not running here."""
    if "runtime.main" in sys.modules:
        return False
    import os

    # awslambdaric's loop is its `bootstrap` module (importing one of its helpers, as a test may, serves nothing);
    # the durable SDK's test runner calls the handler itself, in the test's process.
    serving = (
        "awslambdaric.bootstrap" in sys.modules or "aws_durable_execution_sdk_python_testing.runner" in sys.modules
    )
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
        "%s: this function is served by another runtime (awslambdaric, a managed Python runtime, or the durable "
        "SDK's test runner), not by this runtime's bootstrap; after-response hooks do not run here and defer() runs "
        'its work at once, before the response (README "Under another runtime")',
        what,
    )


def _run_now(task: Task) -> None:
    """Work that cannot wait for the phase runs now, before the response, rather than never. Its failure is logged,
    as in the phase, and does not fail the handler."""
    import logging

    result: Any = None
    try:
        result = task.call(None)
        if hasattr(result, "__await__"):
            from . import aio

            aio.result_of(result)
    except Exception as exc:
        _close_if_coroutine(result)
        from .errors import user_traceback

        trace = (type(exc), exc, user_traceback(exc.__traceback__))
        logging.getLogger("runtime").error("deferred %s failed: %r", task.name, exc, exc_info=trace)


def name_of(fn: Any) -> str:
    """`module.qualified_name` of a function (what logs call the work), or its repr."""
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    if isinstance(name, str):
        module = getattr(fn, "__module__", None)
        return f"{module}.{name}" if module and module not in ("__main__", "builtins") else name
    return repr(fn)


def _close_if_coroutine(fn: Any) -> None:
    if hasattr(fn, "__await__") and hasattr(fn, "close"):
        fn.close()
