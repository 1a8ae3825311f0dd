"""The root logger's handler and formatters; imported only once `logging` is in use (see logs.py)."""

from __future__ import annotations

import logging
import time

from ._typing import TYPE_CHECKING
from .current import request_ids
from .errors import ShutdownRequested, safe_str
from .logformat import (
    JSON_DATE_FORMAT,
    JSON_FRAMES,
    LINE_JOIN,
    RESERVED_FIELDS,
    RUNTIME_LOGGER,
    TEXT_DATE_FORMAT,
    TEXT_FORMAT,
    TEXT_FRAMES,
    Sink,
    indent,
)

if TYPE_CHECKING:
    from typing import Any


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        request_id, record.tenant_id = request_ids()
        record.aws_request_id = request_id or ""
        return True


def _level_bucket(record: logging.LogRecord) -> int:
    return min(50, max(0, record.levelno)) // 10 * 10


class JsonFormatter(logging.Formatter):
    """One JSON object per record, with awslambdaric's keys; extra record attributes become keys too."""

    def __init__(self) -> None:
        super().__init__(datefmt=JSON_DATE_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        record.levelno = _level_bucket(record)
        record.levelname = logging.getLevelName(record.levelno)
        record._frame_type = JSON_FRAMES.get(record.levelno, JSON_FRAMES[0])
        exc_info = record.exc_info
        result: dict[str, Any] = {
            "timestamp": self.formatTime(record, self.datefmt),
            "level": record.levelname,
            "message": record.msg if isinstance(record.msg, dict) and not record.args else record.getMessage(),
            "logger": record.name,
            "stackTrace": _format_tb(exc_info[2]) if exc_info else None,
            "errorType": exc_info[0].__name__ if exc_info and exc_info[0] else None,
            "errorMessage": safe_str(exc_info[1]) if exc_info and exc_info[1] is not None else None,
            "requestId": getattr(record, "aws_request_id", None),
            "location": f"{record.pathname}:{record.funcName}:{record.lineno}" if exc_info else None,
        }
        tenant_id = getattr(record, "tenant_id", None)
        if tenant_id is not None:
            result["tenantId"] = tenant_id
        result.update(
            (key, value) for key, value in record.__dict__.items() if key not in RESERVED_FIELDS and key not in result
        )
        import json

        return json.dumps({k: v for k, v in result.items() if v is not None}, ensure_ascii=False, default=str) + "\n"


class TextFormatter(logging.Formatter):
    def formatException(self, ei: Any) -> str:
        # traceback survives an exception whose __str__ raises an Exception, not one that raises SystemExit: a
        # failed hook's record must still be one line, and must not end the runtime.
        try:
            return super().formatException(ei)
        except ShutdownRequested:
            raise
        except BaseException:
            frames = "".join(_format_tb(ei[2]))
            return f"Traceback (most recent call last):\n{frames}{ei[0].__name__}: {safe_str(ei[1])}"


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
            self.setFormatter(TextFormatter(TEXT_FORMAT, TEXT_DATE_FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)
            frame: bytes | None = None
            if self._frame_by_level:
                frame = getattr(record, "_frame_type", None) or TEXT_FRAMES.get(_level_bucket(record))
            if not self._json and not self.sink.frames_records and record.name.startswith(RUNTIME_LOGGER):
                # The runtime's own multi-line records (tracebacks of failed hooks) stay one CloudWatch event.
                message = LINE_JOIN.join(indent(line) for line in message.rstrip("\n").split("\n")) + "\n"
            self.sink.write(message, frame)
        except Exception:
            self.handleError(record)


def _format_tb(tb: Any) -> list[str]:
    import traceback

    return traceback.format_tb(tb)


def install(sink: Sink, json_format: bool, level: str, runtime_level: int) -> None:
    logging.Formatter.converter = time.gmtime
    root = logging.getLogger()
    root.addHandler(LambdaLogHandler(sink, json_format, frame_by_level=json_format or bool(level)))
    if level in logging.getLevelNamesMapping():
        root.setLevel(level)
    logging.getLogger(RUNTIME_LOGGER).setLevel(runtime_level)
