"""A handler that imports `logging` only while it runs, after the runtime's init."""

from __future__ import annotations

import sys
from typing import Any


def handler(event: Any, context: Any) -> Any:
    imported_before = "logging" in sys.modules
    import logging

    logging.basicConfig(format="%(message)s")  # a no-op, as under awslambdaric: the root logger has its handler
    logging.getLogger("late").warning("late warning")
    return {"imported_before": imported_before, "root_handlers": len(logging.getLogger().handlers)}
