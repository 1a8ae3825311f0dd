"""Function logs as awslambdaric 4.x writes them: the root-logger handler, text and JSON formats, the telemetry fd.

§5.5-5.6 of ../shared/docs/lambda-platform.md. The request id of log records comes from `current`, a plain
module-level object rather than a ContextVar: threads the handler starts must log the invocation's id too, as they
do under awslambdaric, and a new thread does not inherit context variables.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import traceback
from typing import Any, BinaryIO, Final, TextIO

from .marshal import to_json

_TEXT_FORMAT: Final = "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n"
_TEXT_DATE_FORMAT: Final = "%Y-%m-%dT%H:%M:%S"
_JSON_DATE_FORMAT: Final = "%Y-%m-%dT%H:%M:%SZ"
# CloudWatch starts a new event at each "\n" of stdout; "\r" and a no-break-space indent keep a traceback in one.
_LINE_JOIN: Final = "\r"
_INDENT: Final = "\u00a0"

# Telemetry log frame types, by level (§5.6).
_JSON_FRAMES: Final = {
    level: code.to_bytes(4, "big")
    for level, code in (
        (0, 0xA55A0002),
        (10, 0xA55A000A),
        (20, 0xA55A000E),
        (30, 0xA55A0012),
        (40, 0xA55A0016),
        (50, 0xA55A001A),
    )
}
_TEXT_FRAMES: Final = {
    level: code.to_bytes(4, "big")
    for level, code in (
        (0, 0xA55A0003),
        (10, 0xA55A000B),
        (20, 0xA55A000F),
        (30, 0xA55A0013),
        (40, 0xA55A0017),
        (50, 0xA55A001B),
    )
}
_DEFAULT_FRAME: Final = _TEXT_FRAMES[0]

# LogRecord attributes that are not "extra" fields of a JSON log line (awslambdaric's list).
_RESERVED_FIELDS: Final = frozenset(
    {
        "name", "msg", "args", "levelname", "levelno", "pathname", "filename", "module", "exc_info", "exc_text",
        "stack_info", "lineno", "funcName", "created", "msecs", "relativeCreated", "thread", "threadName",
        "processName", "process", "aws_request_id", "tenant_id", "_frame_type",
    }
)  # fmt: skip

RUNTIME_LOGGER: Final = "runtime"


class _Current:
    """The invocation whose id log records carry, set by the loop for the handler and its after-response phase."""

    __slots__ = ("request_id", "tenant_id")

    def __init__(self) -> None:
        self.request_id: str | None = None
        self.tenant_id: str | None = None


current = _Current()


class Sink:
    """Where log text goes: stdout, or the telemetry fd with one frame per record."""

    def write(self, message: str, frame_type: bytes | None = None) -> None:
        raise NotImplementedError

    def write_error(self, lines: list[str], frame_type: bytes) -> None:
        raise NotImplementedError

    @property
    def frames_records(self) -> bool:
        return False


class StdoutSink(Sink):
    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def write(self, message: str, frame_type: bytes | None = None) -> None:
        (self._stream or sys.stdout).write(message)

    def write_error(self, lines: list[str], frame_type: bytes) -> None:
        (self._stream or sys.stdout).write(_LINE_JOIN.join(lines) + "\n")


class FramedSink(Sink):
    """`_LAMBDA_TELEMETRY_LOG_FD`: type ‖ length ‖ timestamp (µs) ‖ UTF-8 message, big-endian (§5.6)."""

    def __init__(self, fd: int) -> None:
        self._file: BinaryIO = os.fdopen(fd, "wb", 0)

    def write(self, message: str, frame_type: bytes | None = None) -> None:
        data = message.encode("utf-8", "replace")
        timestamp = time.time_ns() // 1000
        self._file.write(
            (frame_type or _DEFAULT_FRAME) + len(data).to_bytes(4, "big") + timestamp.to_bytes(8, "big") + data
        )

    def write_error(self, lines: list[str], frame_type: bytes) -> None:
        self.write("\n".join(lines), frame_type)

    @property
    def frames_records(self) -> bool:
        return True


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = current.request_id or ""
        record.tenant_id = current.tenant_id
        return True


def _level_bucket(record: logging.LogRecord) -> int:
    return min(50, max(0, record.levelno)) // 10 * 10


class JsonFormatter(logging.Formatter):
    """One JSON object per record, with awslambdaric's keys; extra record attributes become keys too."""

    def __init__(self) -> None:
        super().__init__(datefmt=_JSON_DATE_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        record.levelno = _level_bucket(record)
        record.levelname = logging.getLevelName(record.levelno)
        record._frame_type = _JSON_FRAMES.get(record.levelno, _JSON_FRAMES[0])
        exc_info = record.exc_info
        result: dict[str, Any] = {
            "timestamp": self.formatTime(record, self.datefmt),
            "level": record.levelname,
            "message": record.msg if isinstance(record.msg, dict) and not record.args else record.getMessage(),
            "logger": record.name,
            "stackTrace": traceback.format_tb(exc_info[2]) if exc_info else None,
            "errorType": exc_info[0].__name__ if exc_info and exc_info[0] else None,
            "errorMessage": str(exc_info[1]) if exc_info else None,
            "requestId": getattr(record, "aws_request_id", None),
            "location": f"{record.pathname}:{record.funcName}:{record.lineno}" if exc_info else None,
        }
        tenant_id = getattr(record, "tenant_id", None)
        if tenant_id is not None:
            result["tenantId"] = tenant_id
        result.update(
            (key, value) for key, value in record.__dict__.items() if key not in _RESERVED_FIELDS and key not in result
        )
        import json

        return json.dumps({k: v for k, v in result.items() if v is not None}, ensure_ascii=False, default=str) + "\n"


class LambdaLogHandler(logging.Handler):
    """The root logger's handler: every record to the sink, in the configured format."""

    def __init__(self, sink: Sink, json_format: bool, frame_by_level: bool) -> None:
        super().__init__()
        self.sink = sink
        self._json = json_format
        self._frame_by_level = frame_by_level
        self.addFilter(_RequestIdFilter())
        if json_format:
            self.setFormatter(JsonFormatter())
        else:
            self.setFormatter(logging.Formatter(_TEXT_FORMAT, _TEXT_DATE_FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)
            frame: bytes | None = None
            if self._frame_by_level:
                frame = getattr(record, "_frame_type", None) or _TEXT_FRAMES.get(_level_bucket(record))
            if not self._json and not self.sink.frames_records and record.name.startswith(RUNTIME_LOGGER):
                # The runtime's own multi-line records (tracebacks of failed hooks) stay one CloudWatch event.
                message = _LINE_JOIN.join(_indent(line) for line in message.rstrip("\n").split("\n")) + "\n"
            self.sink.write(message, frame)
        except Exception:
            self.handleError(record)


class _State:
    sink: Sink = StdoutSink()
    json_format = False


_state = _State()


def setup(log_format: str | None, log_level: str | None, telemetry_fd: int | None) -> Sink:
    """Install the root handler once at start-up, as awslambdaric's `_setup_logging` does."""
    sink: Sink = FramedSink(telemetry_fd) if telemetry_fd is not None else StdoutSink()
    json_format = (log_format or "").upper() == "JSON"
    level = {"TRACE": "DEBUG"}.get((log_level or "").upper(), (log_level or "").upper())
    logging.Formatter.converter = time.gmtime
    root = logging.getLogger()
    root.addHandler(LambdaLogHandler(sink, json_format, frame_by_level=json_format or bool(level)))
    if level in logging.getLevelNamesMapping():
        root.setLevel(level)
    _state.sink = sink
    _state.json_format = json_format
    return sink


def write_raw(message: str) -> None:
    """`context.log()`: the message as it is, no newline added."""
    _state.sink.write(message)


def log_unhandled_error(report: dict[str, Any]) -> None:
    """The ERROR record of an error that reached the runtime, in awslambdaric's text or JSON shape."""
    if _state.json_format:
        document = {"timestamp": time.strftime(_JSON_DATE_FORMAT, time.gmtime()), "level": "ERROR", **report}
        _state.sink.write_error([to_json(document).decode("utf-8")], _JSON_FRAMES[40])
        return
    description = "[ERROR]"
    if report.get("errorType"):
        description += " " + report["errorType"]
    if report.get("errorMessage"):
        if report.get("errorType"):
            description += ":"
        description += " " + report["errorMessage"]
    lines = [description, "Traceback (most recent call last):"]
    for element in report.get("stackTrace") or []:
        lines += [_indent(line) for line in element.splitlines()] if element else [""]
    _state.sink.write_error(lines, _TEXT_FRAMES[40])


def _indent(line: str) -> str:
    stripped = line.lstrip(" ")
    return _INDENT * (len(line) - len(stripped)) + stripped


def runtime_logger() -> logging.Logger:
    return logging.getLogger(RUNTIME_LOGGER)


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
