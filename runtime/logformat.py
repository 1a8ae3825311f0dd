"""What a log record looks like, without `logging`: awslambdaric 4.x's formats, frame types, sinks, and the request
id records carry (docs in logs.py). Imported by `logs` (start-up) and `loghandler` (once `logging` is in use).

The request id of log records is the open invocation's (current.py): threads the handler starts log it too, as
under awslambdaric.
"""

from __future__ import annotations

import os
import sys
import time

from ._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import BinaryIO, Final, TextIO

TEXT_FORMAT: Final = "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n"
TEXT_DATE_FORMAT: Final = "%Y-%m-%dT%H:%M:%S"
JSON_DATE_FORMAT: Final = "%Y-%m-%dT%H:%M:%SZ"
# CloudWatch starts a new event at each "\n" of stdout; "\r" and a no-break-space indent keep a traceback in one.
LINE_JOIN: Final = "\r"
INDENT: Final = "\u00a0"

# Telemetry log frame types, by level (platform §5.6).
JSON_FRAMES: Final = {
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
TEXT_FRAMES: Final = {
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
DEFAULT_FRAME: Final = TEXT_FRAMES[0]

# LogRecord attributes that are not "extra" fields of a JSON log line (awslambdaric's list).
RESERVED_FIELDS: Final = frozenset(
    {
        "name", "msg", "args", "levelname", "levelno", "pathname", "filename", "module", "exc_info", "exc_text",
        "stack_info", "lineno", "funcName", "created", "msecs", "relativeCreated", "thread", "threadName",
        "processName", "process", "aws_request_id", "tenant_id", "_frame_type",
    }
)  # fmt: skip

RUNTIME_LOGGER: Final = "runtime"

# Level names: logging's, and Lambda's (AWS_LAMBDA_LOG_LEVEL says WARN and FATAL; TRACE is mapped to DEBUG).
LEVELS: Final = {"DEBUG": 10, "INFO": 20, "WARN": 30, "WARNING": 30, "ERROR": 40, "FATAL": 50, "CRITICAL": 50}


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
        (self._stream or sys.stdout).write(LINE_JOIN.join(lines) + "\n")


class FramedSink(Sink):
    """`_LAMBDA_TELEMETRY_LOG_FD`: type ‖ length ‖ timestamp (µs) ‖ UTF-8 message, big-endian (platform §5.6).

    An fd that cannot be written to (read-only, or its reader gone) costs no record and stops no invocation: from its
    first failed write on, records go to stdout, which Lambda sends to CloudWatch too, and `broken` is told once.
    """

    def __init__(self, fd: int, broken: Callable[[OSError], None]) -> None:
        # OSError here for an fd that is not open, or is a directory (the caller decides what that means).
        self._file: BinaryIO = os.fdopen(fd, "wb", 0)
        self._broken = broken
        self._failed = False
        self._stdout = StdoutSink()

    def write(self, message: str, frame_type: bytes | None = None) -> None:
        if self._failed or not self._framed(message, frame_type):
            self._stdout.write(message)

    def write_error(self, lines: list[str], frame_type: bytes) -> None:
        if self._failed or not self._framed("\n".join(lines), frame_type):
            self._stdout.write_error(lines, frame_type)

    def _framed(self, message: str, frame_type: bytes | None) -> bool:
        data = message.encode("utf-8", "replace")
        timestamp = time.time_ns() // 1000
        try:
            self._file.write(
                (frame_type or DEFAULT_FRAME) + len(data).to_bytes(4, "big") + timestamp.to_bytes(8, "big") + data
            )
        except OSError as exc:
            self._failed = True
            self._broken(exc)
            return False
        return True

    @property
    def frames_records(self) -> bool:
        return not self._failed


def indent(line: str) -> str:
    stripped = line.lstrip(" ")
    return INDENT * (len(line) - len(stripped)) + stripped
