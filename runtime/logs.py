"""Function logs as awslambdaric 4.x writes them: the root-logger handler, text and JSON formats, the telemetry fd.

platform §5.5-5.6. The formats, frame types and sinks are in `logformat`, which `loghandler` (the root handler,
once `logging` is imported) uses too: imports go one way, logs -> loghandler -> logformat.

`logging` costs ~8 ms of cold start, so it is imported only when someone uses it: if the function has not imported
it by the end of init, a meta-path finder installs the root handler the moment it is first imported. User code sees
the same root logger set-up as under awslambdaric (a handler already there, so `basicConfig()` does nothing).
"""

from __future__ import annotations

import sys
import time

from ._typing import TYPE_CHECKING
from .current import request_ids
from .logformat import (
    JSON_DATE_FORMAT,
    JSON_FRAMES,
    LEVELS,
    RUNTIME_LOGGER,
    TEXT_DATE_FORMAT,
    TEXT_FRAMES,
    FramedSink,
    Sink,
    StdoutSink,
    indent,
)
from .marshal import to_json

if TYPE_CHECKING:
    import logging
    from importlib.machinery import ModuleSpec
    from types import ModuleType
    from typing import Any, TextIO


class _Settings:
    """What `setup()` decided, for the root handler installed now or when `logging` is first imported."""

    sink: Sink = StdoutSink()
    json_format = False
    level = ""
    #: the runtime logger's level, a number: RUNTIME_LOG_LEVEL, or AWS_LAMBDA_LOG_LEVEL where that is stricter
    runtime_level = 20
    installed = False


_settings = _Settings()


def setup(log_format: str | None, log_level: str | None, telemetry_fd: int | None, runtime_level: str = "INFO") -> Sink:
    """Configure function logs once at start-up, as awslambdaric's `_setup_logging` does."""
    unusable: OSError | None = None
    _settings.sink = StdoutSink()
    if telemetry_fd is not None:
        try:
            _settings.sink = FramedSink(telemetry_fd, lambda exc: _telemetry_fd_unusable(telemetry_fd, exc))
        except OSError as exc:  # not open, or a directory
            unusable = exc
    _settings.json_format = (log_format or "").upper() == "JSON"
    _settings.level = {"TRACE": "DEBUG"}.get((log_level or "").upper(), (log_level or "").upper())
    # Lambda's application log level filters the runtime's records too (an ERROR setting means no INFO summary).
    _settings.runtime_level = max(LEVELS.get(runtime_level, 20), LEVELS.get(_settings.level, 0))
    if "logging" in sys.modules:
        _install()
    else:
        sys.meta_path.insert(0, _WhenLoggingImported())
    if unusable is not None and telemetry_fd is not None:
        _telemetry_fd_unusable(telemetry_fd, unusable)
    return _settings.sink


def _telemetry_fd_unusable(fd: int, exc: OSError) -> None:
    """One warning, on stdout, when Lambda's telemetry fd cannot take log records (at start-up or at the first write
    that fails): the records go to stdout instead. Not an init error: the fd is the platform's, not the function's
    setting, no change to the function would mend it, and stdout reaches CloudWatch as well (one record may then be
    several CloudWatch events)."""
    if _settings.runtime_level > LEVELS["WARNING"]:
        return
    message = (
        f"_LAMBDA_TELEMETRY_LOG_FD: fd {fd} cannot be written to ({exc.strerror or exc}): logs go to stdout, unframed"
    )
    sys.stdout.write(format_warning(message, None, time.time())[0])


def runtime_enabled_for(level: int) -> bool:
    """Whether the runtime's logger will write a record of `level`, known without importing `logging`: a DEBUG
    record nobody reads must not cost every process ~1.7 MB."""
    return _settings.runtime_level <= level


def root_enabled_for(level: int) -> bool:
    """Whether the root logger will write a record of `level` (AWS_LAMBDA_LOG_LEVEL; WARNING when unset), known
    without importing `logging` (~1.7 MB of every process: a parent that forks workers avoids it)."""
    return LEVELS.get(_settings.level, 30) <= level


def _install() -> None:
    if _settings.installed:
        return
    _settings.installed = True
    from .loghandler import install

    install(_settings.sink, _settings.json_format, _settings.level, _settings.runtime_level)


class _WhenLoggingImported:
    """A meta-path finder for one module, `logging`: it loads it as usual, then installs the root handler."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        if name != "logging":
            return None
        sys.meta_path.remove(self)
        for finder in sys.meta_path:
            spec: ModuleSpec | None = finder.find_spec(name, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _InstallAfterLoading(spec.loader)  # type: ignore[assignment]  # a Loader by duck typing
                return spec
        return None


class _InstallAfterLoading:
    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        module: ModuleType | None = self._loader.create_module(spec)
        return module

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        _install()


def write_raw(message: str) -> None:
    """`context.log()`: the message as it is, no newline added."""
    _settings.sink.write(message)


def log_unhandled_error(report: dict[str, Any]) -> None:
    """The ERROR record of an error that reached the runtime, in awslambdaric's text or JSON shape."""
    if _settings.json_format:
        document = {"timestamp": time.strftime(JSON_DATE_FORMAT, time.gmtime()), "level": "ERROR", **report}
        _settings.sink.write_error([to_json(document).decode("utf-8")], JSON_FRAMES[40])
        return
    description = "[ERROR]"
    if report.get("errorType"):
        description += " " + report["errorType"]
    if report.get("errorMessage"):
        if report.get("errorType"):
            description += ":"
        description += " " + report["errorMessage"]
    lines = [description]
    # awslambdaric's rule: a trace (empty too) when the report has one; a configuration error's record has none.
    if report.get("stackTrace") is not None:
        lines.append("Traceback (most recent call last):")
        for element in report["stackTrace"]:
            lines += [indent(line) for line in element.splitlines()] if element else [""]
    _settings.sink.write_error(lines, TEXT_FRAMES[40])


def runtime_logger() -> logging.Logger:
    """The runtime's own logger (imports `logging`, which installs the root handler). Main thread only: other
    threads use `thread_warning`."""
    import logging

    return logging.getLogger(RUNTIME_LOGGER)


def thread_warning(message: str, hook: str | None = None) -> None:
    """A warning of the runtime's own from a thread other than the main one (the internal extension's).

    On Python 3.11 and 3.12 the thread that first imports `threading` becomes its "main thread": the interpreter then
    waits for that thread at exit (a process that never exits after `sys.exit()` or SIGTERM), and asyncio refuses
    the real main thread its event loop. `logging` imports `threading`, so while `threading` is not loaded this
    thread writes the record itself, in the shape the root handler gives it (a unit test holds the two equal).
    """
    if "threading" in sys.modules:
        runtime_logger().warning(message, extra={"hook": hook} if hook is not None else None)
        return
    if _settings.runtime_level > LEVELS["WARNING"]:
        return
    line, frame = format_warning(message, hook, time.time())
    _settings.sink.write(line, frame)


def format_warning(message: str, hook: str | None, created: float) -> tuple[str, bytes | None]:
    """The runtime logger's WARNING record for `message`, as text or JSON, and its telemetry frame type."""
    request_id, tenant_id = request_ids()
    if _settings.json_format:
        document = {
            "timestamp": time.strftime(JSON_DATE_FORMAT, time.gmtime(created)),
            "level": "WARNING",
            "message": message,
            "logger": RUNTIME_LOGGER,
            "requestId": request_id or "",
        }
        if tenant_id is not None:
            document["tenantId"] = tenant_id
        if hook is not None:
            document["hook"] = hook
        return to_json(document).decode("utf-8") + "\n", JSON_FRAMES[30]
    stamp = f"{time.strftime(TEXT_DATE_FORMAT, time.gmtime(created))}.{int((created - int(created)) * 1000):03d}Z"
    line = f"[WARNING]\t{stamp}\t{request_id or ''}\t{message}\n"
    return line, TEXT_FRAMES[30] if _settings.level else None


def make_unbuffered() -> None:
    """stdout/stderr write through at once, as under awslambdaric, when the interpreter was not started with -u."""
    if getattr(sys.stdout, "write_through", False):  # python -u
        return
    sys.stdout = _Unbuffered(sys.stdout)
    sys.stderr = _Unbuffered(sys.stderr)


class _Unbuffered:
    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def write(self, text: str) -> int:
        written = self._stream.write(text)
        self._stream.flush()
        return written

    def writelines(self, lines: list[str]) -> None:
        self._stream.writelines(lines)
        self._stream.flush()
