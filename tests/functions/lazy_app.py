"""RUNTIME_LAZY_IMPORTS: a handler module whose top-level imports are lazy but for the one named eager."""

import sys

import lazy_dep_eager
import lazy_dep_used
from lazy_dep_from import VALUE

from runtime import after_response

_WATCHED = ("lazy_dep_eager", "lazy_dep_from", "lazy_dep_used")


def loaded() -> list[str]:
    return [name for name in _WATCHED if name in sys.modules]


def handler(event, context):
    before = loaded()
    if event.get("use"):
        assert lazy_dep_used.VALUE == "used" and VALUE == "from"
    return {"before": before, "after": loaded(), "eager": lazy_dep_eager.VALUE}


@after_response  # the runtime's own import is eager: the hook is registered at init
def hook(invocation):
    print(f"hook ran after {invocation.request_id}")
