"""A function that imports neither `threading` nor `logging`, so that the watchdog's warning imports both on the
extension thread: the runtime must still exit when the handler or Lambda says so."""

from __future__ import annotations

import sys
import time
from typing import Any

from marks import mark  # type: ignore[import-not-found]  # tests/functions is the task root


def handler(event: dict[str, Any], context: Any) -> Any:
    while context.get_remaining_time_in_millis() > event.get("until_ms_left", 100):
        time.sleep(0.01)
    mark("exiting")
    if event.get("sigterm"):
        time.sleep(30)  # the test sends SIGTERM
    sys.exit(3)
