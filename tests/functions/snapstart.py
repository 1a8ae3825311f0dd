"""SnapStart runtime hooks registered with snapshot_restore_py, each marked on the test Runtime API's clock.
FAIL_BEFORE / FAIL_AFTER make a before-snapshot / after-restore hook raise."""

from __future__ import annotations

import os
from typing import Any

from marks import mark  # type: ignore[import-not-found]  # tests/functions is the task root
from snapshot_restore_py import register_after_restore, register_before_snapshot


def close_connections() -> None:
    mark("before-close_connections")


register_before_snapshot(close_connections)


def note(label: str, suffix: str = "") -> None:
    mark(f"{label}{suffix}")


register_before_snapshot(note, "before-note", suffix="-with-args")


def reconnect() -> None:
    mark("after-reconnect")
    if os.environ.get("FAIL_AFTER"):
        raise ConnectionError("the database is gone")


register_after_restore(reconnect)


register_after_restore(note, "after-note")


def fails() -> None:
    raise RuntimeError("cannot flush the cache")


if os.environ.get("FAIL_BEFORE"):
    register_before_snapshot(fails)


def handler(event: Any, context: Any) -> str:
    return "restored"
