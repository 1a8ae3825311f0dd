"""RUNTIME_LAZY_IMPORTS: a handler module whose top-level imports are lazy but for the one named eager."""

import sys
from typing import Any

# tests/functions is the task root (mypy: not a package path)
import lazy_dep_eager  # type: ignore[import-not-found]
import lazy_dep_used  # type: ignore[import-not-found]
from lazy_dep_from import VALUE  # type: ignore[import-not-found]

from runtime import Invocation, after_response

_WATCHED = ("lazy_dep_eager", "lazy_dep_from", "lazy_dep_used")


def loaded() -> list[str]:
    return [name for name in _WATCHED if name in sys.modules]


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    before = loaded()
    if event.get("use"):
        assert lazy_dep_used.VALUE == "used" and VALUE == "from"
    return {"before": before, "after": loaded(), "eager": lazy_dep_eager.VALUE}


@after_response  # the runtime's own import is eager: the hook is registered at init
def hook(invocation: Invocation) -> None:
    print(f"hook ran after {invocation.request_id}")
