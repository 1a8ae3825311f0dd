"""The collector at init (RUNTIME_GC_INIT): whether it ran while this module was imported, and a cycle left as
garbage by the import, which only the collector frees (its `__del__` marks when)."""

from __future__ import annotations

import gc
from typing import Any

from marks import mark  # type: ignore[import-not-found]  # tests/functions is the task root

ENABLED_AT_IMPORT = gc.isenabled()


class Cycle:
    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        mark("init-garbage-collected")


Cycle()


def handler(event: Any, context: Any) -> dict[str, Any]:
    return {"enabled_at_import": ENABLED_AT_IMPORT, "enabled_now": gc.isenabled()}
