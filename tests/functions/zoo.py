"""Handlers covering what user code can observe of a runtime; run under both this runtime and awslambdaric."""

from __future__ import annotations

import decimal
import logging
import os
import sys
import time
from typing import Any

logger = logging.getLogger("zoo")


class CustomError(Exception):
    pass


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no str for you")


def echo(event: Any, context: Any) -> Any:
    return event


def dict_result(event: Any, context: Any) -> Any:
    return {"a": 1, "b": [1, 2.5, None, True], "c": {"d": "e"}}


def string_result(event: Any, context: Any) -> Any:
    return "just a string"


def none_result(event: Any, context: Any) -> Any:
    return None


def int_result(event: Any, context: Any) -> Any:
    return 42


def decimal_result(event: Any, context: Any) -> Any:
    return {"price": decimal.Decimal("19.990"), "big": decimal.Decimal("1E+400"), "nan": decimal.Decimal("NaN")}


def float_specials(event: Any, context: Any) -> Any:
    return {"nan": float("nan"), "inf": float("inf"), "ninf": float("-inf"), "tiny": 1e-300}


def bytes_result(event: Any, context: Any) -> Any:
    return b"\x00\x01binary\xff"


def unicode_result(event: Any, context: Any) -> Any:
    return {"greeting": "héllo wörld ✓ 🚀", "cjk": "日本語"}


def large_result(event: Any, context: Any) -> Any:
    size = int(event.get("size", 1_000_000)) if isinstance(event, dict) else 1_000_000
    return {"data": "x" * size}


def too_large(event: Any, context: Any) -> Any:
    # Above RAPID's 6 MiB + 100 bytes limit once JSON-quoted.
    return "x" * (6 * 1024 * 1024 + 100)


def raw_event(event: Any, context: Any) -> Any:
    return {"type": type(event).__name__, "length": len(event)}


def raise_value_error(event: Any, context: Any) -> Any:
    raise ValueError("bad value")


def raise_custom(event: Any, context: Any) -> Any:
    raise CustomError("custom failure with\nnewlines")


def _inner() -> None:
    raise KeyError("inner")


def raise_chained(event: Any, context: Any) -> Any:
    try:
        _inner()
    except KeyError as exc:
        raise RuntimeError("outer") from exc


def raise_no_message(event: Any, context: Any) -> Any:
    raise ValueError


def raise_huge_message(event: Any, context: Any) -> Any:
    raise ValueError("m" * 300_000)


def raise_unprintable(event: Any, context: Any) -> Any:
    raise Unprintable()


def unserialisable(event: Any, context: Any) -> Any:
    return {"when": object()}


def circular(event: Any, context: Any) -> Any:
    data: dict[str, Any] = {}
    data["self"] = data
    return data


def system_exit(event: Any, context: Any) -> Any:
    sys.exit(3)


def system_exit_no_code(event: Any, context: Any) -> Any:
    sys.exit()


def context_attrs(event: Any, context: Any) -> Any:
    remaining = context.get_remaining_time_in_millis()
    identity = context.identity
    client_context = context.client_context
    return {
        "aws_request_id_set": bool(context.aws_request_id),
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "function_name": context.function_name,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "tenant_id": context.tenant_id,
        "remaining_positive": isinstance(remaining, int) and remaining > 0,
        "identity": [identity.cognito_identity_id, identity.cognito_identity_pool_id],
        "client_context": None
        if client_context is None
        else {
            "custom": client_context.custom,
            "env": client_context.env,
            "client": repr(client_context.client),
        },
        "w3c": context.w3c() if hasattr(context, "w3c") else None,
        "repr_prefix": repr(context).split("[")[0],
        # awslambdaric's private attribute, which code written for it reads.
        "epoch_deadline_matches": abs(context._epoch_deadline_time_in_ms - int(time.time() * 1000) - remaining) < 1000,
    }


def logs(event: Any, context: Any) -> Any:
    print("printed line")
    print("printed without newline", end="")
    print()
    logger.warning("a warning with %s", "args")
    logging.getLogger().error("root error")
    logger.info("info is below the default level")
    try:
        raise ValueError("logged exception")
    except ValueError:
        logger.exception("caught it")
    context.log("context.log line\n")
    sys.stderr.write("stderr line\n")
    return "logged"


def trace_env(event: Any, context: Any) -> Any:
    return {"trace": os.environ.get("_X_AMZN_TRACE_ID")}
