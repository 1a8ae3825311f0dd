"""A function whose import starts a thread that marks "init-waiting" once the main thread blocks in a wait after the
import: with a slow extension registration, the wait for its answer, where SIGTERM's handler is installed."""

from __future__ import annotations

from typing import Any

from marks import mark, mark_when_main_thread_blocks  # type: ignore[import-not-found]  # tests/functions is the task root

from runtime import on_shutdown

mark_when_main_thread_blocks("socket", "init-waiting")


def handler(event: Any, context: Any) -> Any:
    return "ok"


@on_shutdown
def closing() -> None:
    mark("shutdown-hook")
