"""A function using the after-response API, served by this runtime or by another (awslambdaric)."""

from __future__ import annotations

from typing import Any

from marks import mark  # type: ignore[import-not-found]  # tests/functions is the task root

from runtime import Invocation, after_response, defer


@after_response
def hook(invocation: Invocation) -> None:
    mark(f"hook-{invocation.request_id}")


def later(request_id: str) -> None:
    mark(f"deferred-{request_id}")


def handler(event: Any, context: Any) -> dict[str, bool]:
    defer(later, context.aws_request_id)
    return {"ok": True}
