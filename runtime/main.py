"""Start-up, in Lambda's order: configuration, logging, the internal extension, the handler, then the loop.

The repository's `bootstrap` (a shell script, for zips) runs `python -u -c '...; from runtime.main import main;
main()' [HANDLER]` with its own directory first on sys.path; the container image's is a Python script with the
interpreter in its shebang, which puts its own directory there itself.
"""

from __future__ import annotations

# `_signal`, not `signal`: the module `signal` builds enums of the signal numbers at import (~1 ms).
import _signal
import _thread
import gc
import os
import sys

from . import logs
from ._typing import TYPE_CHECKING
from .api import RuntimeApi, RuntimeApiError
from .config import Config, ConfigError, unknown_variables
from .current import Lifetime, serve_in_this_process
from .errors import EXIT_API_ERROR, EXIT_INIT_ERROR, ErrorReport, ShutdownRequested, report_from_exception
from .extension import InternalExtension
from .handler import load_handler, refuse_shadowing_modules
from .hooks import registry, run_init
from .loop import Loop
from .marshal import preload, to_json
from .memory import InitGarbage, keep_heap_between_invocations
from .observe import PhaseObserver
from .phase import PhaseRunner

if TYPE_CHECKING:
    from types import FrameType
    from typing import NoReturn

    from .handler import Handler
    from .phase import PhaseReport


# The command the shell `bootstrap` runs after the interpreter (argv: bootstrap's directory, then its arguments): the
# exec wrapper gets the same command from either bootstrap.
BOOTSTRAP_CODE = (
    "import os, sys; sys.path.insert(0, os.path.abspath(sys.argv.pop(1))); from runtime.main import main; main()"
)


def bootstrap() -> NoReturn:
    """The container image's `bootstrap`, a Python script: applies `AWS_LAMBDA_EXEC_WRAPPER` as the managed runtimes'
    bootstraps (and the shell `bootstrap`) do, then runs `main()`."""
    wrapper = os.environ.get("AWS_LAMBDA_EXEC_WRAPPER")
    if wrapper:
        _exec_wrapper(wrapper)
    main()


def _exec_wrapper(wrapper: str) -> NoReturn:
    """Exec `wrapper PYTHON -u -c BOOTSTRAP_CODE DIR ARGS...`, with the managed runtimes' messages and exit codes when
    it cannot run (platform §5.8). Costs one interpreter start (~9 ms), only when a wrapper is set."""
    if not os.path.isfile(wrapper):
        print(f"{wrapper}: does not exist", flush=True)
        os._exit(127)
    if not os.access(wrapper, os.X_OK):
        print(f"{wrapper}: is not an executable", flush=True)
        os._exit(126)
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # where the runtime package is
    os.execv(wrapper, [wrapper, sys.executable, "-u", "-c", BOOTSTRAP_CODE, here, *sys.argv[1:]])


def main() -> NoReturn:
    # `python -c` (the shell bootstrap) puts "" on sys.path, after bootstrap's own directory; `python -m awslambdaric`
    # puts the working directory (/var/task) there, and user code may rely on it staying put if it changes directory.
    if "" in sys.path[:2]:
        sys.path[sys.path.index("")] = os.getcwd()
    logs.make_unbuffered()
    keep_heap_between_invocations()
    try:
        config = Config.from_env(os.environ, sys.argv)
    except ConfigError as exc:
        _fail_before_config(exc)
    # awslambdaric removes the telemetry fd variable so child processes do not write frames to it (platform §5.6).
    os.environ.pop("_LAMBDA_TELEMETRY_LOG_FD", None)
    # Lambda Managed Instances: worker processes write to stdout (to the log socket); no framed telemetry fd.
    telemetry_fd = config.telemetry_fd if config.max_concurrency is None else None
    logs.setup(config.log_format, config.log_level, telemetry_fd, config.runtime_log_level)
    unknown = unknown_variables(os.environ)
    if unknown is not None:
        logs.runtime_logger().warning("config: %s", unknown)
    if config.max_concurrency is not None:
        _serve_in_workers(config)
    _serve(config, RuntimeApi(config.runtime_api))


def _serve_in_workers(config: Config) -> NoReturn:
    from .workers import Pool, WorkerApi

    def start(index: int, ready_fd: int) -> NoReturn:
        serve_in_this_process()  # a worker the pool forked serves; a child its handler forks does not
        _serve(config, WorkerApi(config.runtime_api), worker=index, ready_fd=ready_fd)

    # What the parent imported (the runtime) is every worker's too: frozen before the fork, no worker's collection
    # writes to those objects' headers, and their pages stay shared between the workers.
    gc.freeze()
    Pool(config, start).run()


def _serve(config: Config, api: RuntimeApi, worker: int | None = None, ready_fd: int | None = None) -> NoReturn:
    """Init, then the loop, in this process: the only one, or one of the workers of `_serve_in_workers`."""
    runner = _make_runner(config, worker)
    extension = None
    # Not in a worker: on Lambda Managed Instances an internal extension may subscribe to no event and SIGTERM
    # reaches every worker anyway (docs/design.md "Multi-concurrency").
    if config.extension and worker is None:
        extension = InternalExtension(
            config.runtime_api, config.extension_name, runner.lifetime.activity, config.margin_ms
        )
        if not extension.begin_registration():
            extension = None

    init_garbage = InitGarbage() if config.gc_init == "deferred" else None
    if init_garbage is not None:
        init_garbage.pause()
    handler = _load(config, api)
    entry = _tasks_entry(config, api, handler) if config.slots > 1 else None
    if config.initialised_ahead:
        preload()  # simplejson, which this runtime otherwise imports at the first result that needs it
    _signal.signal(_signal.SIGTERM, _raise_shutdown)
    _relay_sigterm()
    if ready_fd is not None:
        from .workers import report_ready

        report_ready(ready_fd)
    try:
        if extension is not None:
            extension.finish_registration()
        if config.initialization_type == "snap-start":
            from .snapstart import snapshot_and_restore

            snapshot_and_restore(api)
        if config.gc_mode == "after_response":
            gc.disable()
        # What init created lives as long as the process: out of the collector's way, full collections stay short
        # (measured: p99 with a 100 KB event 2.6 -> 1.3 ms; docs/design.md).
        if init_garbage is None:
            gc.freeze()
        else:
            # Init runs ahead of any caller with provisioned concurrency, SnapStart and Managed Instances (where a
            # worker collecting after its first phase would turn requests away): its garbage is collected now.
            ahead = config.initialised_ahead or config.max_concurrency is not None
            init_garbage.end_init(ahead, keep_disabled=config.gc_mode == "after_response")
            if not ahead:
                runner.after_next_phase(init_garbage.collect)
        if entry is not None:
            _serve_tasks(config, api, entry, worker)
        Loop(api, handler, runner, config.function).serve(api.invocations())
    except ShutdownRequested:
        _signal.signal(_signal.SIGTERM, _signal.SIG_IGN)
        # The open invocation's work that had not run (SIGTERM in the handler, the POST or the phase) runs first.
        _log_shutdown(runner.run_shutdown(config.shutdown_budget_ms))
        sys.exit(0)
    except RuntimeApiError as exc:
        logs.runtime_logger().error("the Runtime API failed, exiting so Lambda starts a fresh environment: %s", exc)
        if ready_fd is not None:
            from .workers import report_api_lost

            report_api_lost(ready_fd)
        sys.exit(EXIT_API_ERROR)
    raise AssertionError("unreachable: api.invocations() never ends")


def _log_shutdown(report: PhaseReport) -> None:
    if report.items:
        logs.runtime_logger().info("shutdown: %s", ", ".join(f"{n} {o} {ms:.1f} ms" for n, o, ms in report.items))


def _tasks_entry(config: Config, api: RuntimeApi, handler: Handler) -> Handler:
    """Tasks mode's coroutine form of the handler; a handler that cannot share the loop is an init error."""
    from .tasks import async_entry

    try:
        return async_entry(handler, config.processes, config.max_concurrency or 1)
    except ConfigError as exc:
        _report_init_error(api, _config_report(exc), config_error=True)


def _serve_tasks(config: Config, api: RuntimeApi, entry: Handler, worker: int | None) -> NoReturn:
    """Tasks mode (runtime/tasks.py): `config.slots` invocations at once, a connection and a phase runner each."""
    from .tasks import TaskServer
    from .workers import WorkerApi

    apis = [api] + [WorkerApi(config.runtime_api) for _ in range(config.slots - 1)]
    slots = [(slot_api, _make_runner(config, worker, per_task=True)) for slot_api in apis]
    server = TaskServer(
        slots, entry, config.function, config.shutdown_budget_ms, config.loop_lag_ms, _mark_shutdown_started
    )
    report, code = server.serve()
    _log_shutdown(report)
    sys.exit(code)


def _make_runner(config: Config, worker: int | None = None, per_task: bool = False) -> PhaseRunner:
    extra = []
    if config.gc_mode == "after_response":
        from .memory import CollectAfterResponse

        extra.append(CollectAfterResponse(config.gc_every, config.gc_rss_mb).task())
    observer = PhaseObserver(config.emf, config.emf_namespace, config.function.function_name, worker)
    lifetime = Lifetime(config.max_deferred, per_task)
    return PhaseRunner(registry, lifetime, config.margin_ms, extra, observer, config.phase_budget_ms)


def _load(config: Config, api: RuntimeApi) -> Handler:
    # Handler modules resolve against the task root, as with the working directory /var/task in Lambda.
    if config.task_root and config.task_root not in sys.path:
        sys.path.insert(0, config.task_root)
    try:
        refuse_shadowing_modules(config.task_root)
        handler = _import_handler(config)
        run_init(registry)  # the @on_init hooks: after the import, before the first /next
        return handler
    except BaseException as exc:  # SystemExit at import too: reported, where awslambdaric would just exit
        _report_init_error(api, _init_report(exc))


def _import_handler(config: Config) -> Handler:
    if not config.lazy_imports:
        return load_handler(config.handler)
    if config.initialised_ahead:
        # Init runs before any caller waits (provisioned concurrency, SnapStart): an import deferred from it would
        # only move into an invocation.
        logs.runtime_logger().info("RUNTIME_LAZY_IMPORTS: not applied, init runs ahead of invocations here")
        return load_handler(config.handler)
    from .lazyimports import import_lazily

    return import_lazily(lambda: load_handler(config.handler), config.eager_imports)


# asyncio's message when something needs a running event loop where none runs, as at import: a client bound to the
# loop (an aiohttp ClientSession) made at module level. The runtime's loop runs only while it awaits something.
_NO_RUNNING_LOOP = "no running event loop"


def _init_report(exc: BaseException) -> ErrorReport:
    report = report_from_exception(exc)
    if type(exc) is RuntimeError and report.error_message == _NO_RUNNING_LOOP:
        report.error_message += (
            ": an object bound to the event loop (an aiohttp ClientSession, ...) must be made while the loop runs: "
            "make it in an `async def` function decorated with @runtime.on_init, which runs at init on the event "
            "loop of async handlers and hooks"
        )
    return report


def _report_init_error(api: RuntimeApi, report: ErrorReport, config_error: bool = False) -> NoReturn:
    # The root logger, as awslambdaric: AWS_LAMBDA_LOG_LEVEL filters it and JSON records say "logger": "root".
    import logging

    if config_error:
        logging.warning(_CONFIG_WARNING)
    else:
        logging.warning("LAMBDA_WARNING: Unhandled exception. The most likely cause is an issue in the function code.")
    document = report.to_dict()
    logs.log_unhandled_error(_without_trace(document) if config_error else document)
    try:
        api.post_init_error(to_json(document), report.error_type)
    except RuntimeApiError as exc:  # RejectedRequest (4xx) too
        logs.runtime_logger().error("could not report the init error to the Runtime API: %s", exc)
    sys.exit(EXIT_INIT_ERROR)


_CONFIG_WARNING = (
    "LAMBDA_WARNING: Invalid configuration. The most likely cause is an environment variable of the function (a "
    "RUNTIME_* setting) or its handler setting, not its code."
)


def _fail_before_config(exc: ConfigError) -> NoReturn:
    logs.setup(os.environ.get("AWS_LAMBDA_LOG_FORMAT"), None, None)
    address = os.environ.get("AWS_LAMBDA_RUNTIME_API")
    report = _config_report(exc)
    if address:
        try:
            _report_init_error(RuntimeApi(address), report, config_error=True)
        except RuntimeApiError:
            pass
    logs.log_unhandled_error(_without_trace(report.to_dict()))
    sys.exit(EXIT_INIT_ERROR)


def _config_report(exc: ConfigError) -> ErrorReport:
    return ErrorReport(exc.error_type, f"Invalid configuration: {exc}", [])


def _without_trace(document: dict[str, object]) -> dict[str, object]:
    # The logged record only: no code raised a configuration error, and an empty "Traceback" would suggest one. The
    # document posted to Lambda keeps awslambdaric's shape (its "stackTrace" empty), which callers may parse.
    return {key: value for key, value in document.items() if key != "stackTrace"}


# Set by `_raise_shutdown` as its first step: the main thread has taken SIGTERM (read by the relay's thread).
_shutdown_started = False


def _relay_sigterm() -> None:
    """Make SIGTERM reach the main thread's Python code, whatever the main thread is blocked in.

    `_raise_shutdown` is Python code: CPython runs it on the main thread, between two bytecodes. The kernel may deliver
    SIGTERM to any thread (another thread of the function, the watchdog), or to the main thread in the few
    instructions between its last check for signals and a blocking call (`time.sleep`, `recv`, a lock, /next's
    wait): then no system call of the main thread is interrupted, and the handler waits until that call returns, the
    shutdown never runs within Lambda's 500 ms. Every signal writes its number to a pipe (`set_wakeup_fd`); this
    thread reads it and, until the handler has run, sends SIGTERM to the main thread itself, which interrupts the
    call it is blocked in (EINTR: CPython runs the handler and the call raises ShutdownRequested)."""
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    _signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    _thread.start_new_thread(_relay, (read_end, _thread.get_ident()))


def _relay(read_end: int, main_thread: int) -> None:
    import time

    while _signal.SIGTERM not in os.read(read_end, 512):
        pass  # another signal (the user's own handlers): not this thread's business
    for _ in range(400):  # 2 s: Lambda's SIGKILL comes after 500 ms; a C call that retries EINTR itself is lost anyway
        time.sleep(0.005)  # the main thread's own check first: the relay is for a main thread that missed it
        if _shutdown_started:
            return
        _signal.pthread_kill(main_thread, _signal.SIGTERM)


def _mark_shutdown_started() -> None:
    global _shutdown_started
    _shutdown_started = True


def _raise_shutdown(signum: int, frame: FrameType | None) -> None:
    # Unwind the main thread wherever it is (waiting in /next, in the handler, in a hook) to the shutdown phase,
    # once: a worker may get SIGTERM twice (Lambda's, to the process group, and its parent's).
    _mark_shutdown_started()
    _signal.signal(_signal.SIGTERM, _signal.SIG_IGN)
    raise ShutdownRequested()


if __name__ == "__main__":
    main()
