"""Error reports: the one shape that goes to `/error` and `/init/error`, awslambdaric's vocabulary (platform §5.2)."""

from __future__ import annotations

import os
import sys

from ._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types import TracebackType
    from typing import Any

# Frames of this package at the top of a traceback are the runtime calling user code; users never see them.
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
# RAPID crops the X-Ray cause to 64 KiB (platform §1.4); the innermost frames and the start of the message matter most.
_XRAY_MAX_MESSAGE = 4096
_XRAY_MAX_FRAMES = 64


# The runtime's exit statuses, here only (main and the worker pool's parent exit with them): 1 for a failed init (as
# awslambdaric), 2 when the Runtime API is unusable. A worker does not tell its parent the API is lost by its status
# (user code exits 2 as well: argparse, click) but on its pipe (workers.report_api_lost).
EXIT_INIT_ERROR = 1
EXIT_API_ERROR = 2


class ShutdownRequested(BaseException):
    """Raised by the SIGTERM handler to unwind the main thread, wherever it is, to the shutdown phase."""

    def __init__(self) -> None:
        super().__init__("SIGTERM")


class TimeLimitExpired(Exception):
    """The runtime's own time limit for an awaited after-response item ran out, and the item was cancelled. Only
    this is a timeout: a `TimeoutError` the work raises itself is its failure."""


class FaultError(Exception):
    """A failure the runtime detects itself; `error_type` is the `Runtime.*` name callers see."""

    error_type = "Runtime.Unknown"

    def __init__(self, message: str, stack_trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.stack_trace = stack_trace or []


class MalformedHandlerName(FaultError):
    error_type = "Runtime.MalformedHandlerName"


class BuiltInModuleConflict(FaultError):
    error_type = "Runtime.BuiltInModuleConflict"


class ImportModuleError(FaultError):
    error_type = "Runtime.ImportModuleError"


class UserCodeSyntaxError(FaultError):
    error_type = "Runtime.UserCodeSyntaxError"


class HandlerNotFound(FaultError):
    error_type = "Runtime.HandlerNotFound"


class UnmarshalError(FaultError):
    error_type = "Runtime.UnmarshalError"


class MarshalError(FaultError):
    error_type = "Runtime.MarshalError"


class ContextUnmarshalError(FaultError):
    error_type = "Runtime.LambdaContextUnmarshalError"


class ErrorReport:
    """`{errorMessage, errorType, requestId, stackTrace}` plus what the X-Ray cause header needs."""

    __slots__ = ("error_message", "error_type", "frames", "request_id", "stack_trace", "xray_type")

    def __init__(
        self,
        error_type: str,
        error_message: str,
        stack_trace: list[str],
        request_id: str = "",
        frames: list[tuple[str, int, str]] | None = None,
        xray_type: str = "",
    ) -> None:
        self.error_type = error_type
        self.error_message = error_message
        self.stack_trace = stack_trace
        self.request_id = request_id
        #: (path, line, function) of each user frame, for the X-Ray cause
        self.frames = frames or []
        #: X-Ray type: awslambdaric reports the runtime's own faults as LambdaValidationError
        self.xray_type = xray_type

    def to_dict(self) -> dict[str, Any]:
        return {
            "errorMessage": self.error_message,
            "errorType": self.error_type,
            "requestId": self.request_id,
            "stackTrace": self.stack_trace,
        }

    def xray_cause(self) -> dict[str, Any]:
        """The X-Ray error cause; message and stack cropped so that it stays a header of a few KiB."""
        frames = self.frames[-_XRAY_MAX_FRAMES:]
        stack = [{"label": name, "path": path, "line": line} for path, line, name in frames]
        message = self.error_message[:_XRAY_MAX_MESSAGE]
        return {
            "working_directory": os.getcwd(),
            "exceptions": [{"message": message, "type": self.xray_type or self.error_type, "stack": stack}],
            "paths": sorted({path for path, _, _ in frames}),
        }


def report_from_exception(exc: BaseException, request_id: str = "") -> ErrorReport:
    """Turn any exception into the report awslambdaric would send, with the runtime's own frames trimmed."""
    if isinstance(exc, FaultError):
        return ErrorReport(
            exc.error_type, exc.message, list(exc.stack_trace), request_id, xray_type="LambdaValidationError"
        )
    import traceback

    summary = traceback.extract_tb(exc.__traceback__)
    runtime_dirs = _runtime_dirs()
    start = 0
    while start < len(summary) and summary[start].filename.startswith(runtime_dirs):
        start += 1
    frames = summary[start:]
    return ErrorReport(
        error_type=type(exc).__name__,
        error_message=safe_str(exc),
        # Plain (file, line, name, text) tuples, as awslambdaric formats them: FrameSummary objects would carry
        # column positions and Python 3.11+ would add `^^^^` marker lines to the stack trace.
        stack_trace=traceback.format_list([(f.filename, f.lineno or 0, f.name, f.line) for f in frames]),
        request_id=request_id,
        frames=[(f.filename, f.lineno or 0, f.name) for f in frames],
    )


def user_traceback(tb: TracebackType | None) -> TracebackType | None:
    """`tb` from its first frame that is not the runtime's: the trace of a failed hook or deferred call starts at the
    user's code (not at the phase that called it, or the event loop that awaited it), as a handler's report does."""
    runtime_dirs = _runtime_dirs()
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(runtime_dirs):
        tb = tb.tb_next
    return tb


def _runtime_dirs() -> tuple[str, ...]:
    # A coroutine is awaited through asyncio's event loop: its frames are the runtime's too.
    asyncio_file = getattr(sys.modules.get("asyncio"), "__file__", None)
    return (_PACKAGE_DIR, os.path.dirname(asyncio_file) + os.sep) if asyncio_file else (_PACKAGE_DIR,)


def safe_str(exc: BaseException) -> str:
    """`str(exc)`, which awslambdaric uses, except that an exception whose `__str__` raises is still reported.

    Whatever `__str__` raises, SystemExit included: describing a failure must never end the runtime. Only SIGTERM's
    unwinding goes through.
    """
    try:
        return str(exc)
    except ShutdownRequested:
        raise
    except BaseException:
        return f"<exception str() failed: {type(exc).__name__}>"
