"""SnapStart's runtime hooks (`snapshot_restore_py`), run as awslambdaric 4.2.2 runs them (platform §1.6).

Only with `AWS_LAMBDA_INITIALIZATION_TYPE=snap-start`, once the handler is loaded: the before-snapshot hooks in
reverse registration order, then `/restore/next` (Lambda snapshots the environment while it waits), then the
after-restore hooks in registration order. A failure up to the snapshot is the init error
`Runtime.BeforeSnapshotError` (exit 64); after the restore, `Runtime.AfterRestoreError` on `/restore/error` (exit 65).
Lambda offers SnapStart on the managed Python runtimes only, which this runtime reaches through its layer; tested
against the project's emulator (RIE cannot drive a restore), not verified on Lambda.
"""

from __future__ import annotations

import sys

from . import logs
from ._typing import TYPE_CHECKING
from .api import RuntimeApi, RuntimeApiError
from .errors import ShutdownRequested, report_from_exception
from .marshal import to_json

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, NoReturn

EXIT_BEFORE_SNAPSHOT = 64
EXIT_AFTER_RESTORE = 65


def snapshot_and_restore(api: RuntimeApi) -> None:
    """Run the before-snapshot hooks, wait for the restore, run the after-restore hooks; exit on a failure."""
    try:
        before = _registered("get_before_snapshot")
        while before:  # popped, as awslambdaric: the last registered runs first, and each runs once
            fn, args, kwargs = before.pop()
            fn(*args, **kwargs)
        api.restore_next()
    except ShutdownRequested:
        raise
    except BaseException as exc:  # SystemExit too, as awslambdaric's bare except
        _fail(api.post_init_error, exc, "Runtime.BeforeSnapshotError", EXIT_BEFORE_SNAPSHOT)
    try:
        for fn, args, kwargs in _registered("get_after_restore"):
            fn(*args, **kwargs)
    except ShutdownRequested:
        raise
    except BaseException as exc:
        _fail(api.post_restore_error, exc, "Runtime.AfterRestoreError", EXIT_AFTER_RESTORE)


def _registered(getter: str) -> list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]]:
    """snapshot_restore_py's list itself (awslambdaric consumes it); none when the package is not installed."""
    try:
        import snapshot_restore_py
    except ImportError:
        return []
    hooks: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = getattr(snapshot_restore_py, getter)()
    return hooks


def _fail(post: Callable[[bytes, str], None], exc: BaseException, error_type: str, code: int) -> NoReturn:
    document = report_from_exception(exc).to_dict()
    logs.log_unhandled_error(document)
    try:
        post(to_json(document), error_type)
    except RuntimeApiError as error:
        logs.runtime_logger().error("could not report %s to the Runtime API: %s", error_type, error)
    sys.exit(code)
