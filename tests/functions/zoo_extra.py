"""More handlers for the differential tests (tests/rie): cases zoo.py does not cover."""

from __future__ import annotations

import decimal
import logging
from typing import Any

logger = logging.getLogger("zoo_extra")


def _double(value: Any) -> Any:
    return int(value["n"]) * 2


def raise_nested(event: Any, context: Any) -> Any:
    # Both frames raise from part of a line, where Python 3.11+ tracebacks would add `^^^^` marker lines.
    return {"doubled": _double(event) + 1}


def raise_unicode(event: Any, context: Any) -> Any:
    raise ValueError("héllo ✓ 日本語 🚀")


class _Thing:
    """Not JSON-serialisable; its str() is what a JSON log line shows (awslambdaric encodes with default=str)."""

    def __str__(self) -> str:
        return "a thing"

    def __repr__(self) -> str:
        return "<a thing>"


def logs_extra(event: Any, context: Any) -> Any:
    logger.warning({"structured": True, "n": 1})
    logger.warning({"object_in_a_dict_message": _Thing()})
    logger.warning("object in an extra field", extra={"thing": _Thing(), "things": [_Thing()]})
    logger.warning("with extra fields", extra={"order": {"id": 7}, "amount": decimal.Decimal("1.50")})
    logger.error("non-ASCII: héllo ✓ 日本語")
    print("printed: héllo ✓")
    return "ok"
