"""The smallest function: a plain handler, no hooks and no dependencies besides the runtime."""

from __future__ import annotations

from typing import Any


def handler(event: Any, context: Any) -> dict[str, str]:
    name = event.get("name", "world") if isinstance(event, dict) else "world"
    return {"message": f"Hello, {name}!", "request_id": context.aws_request_id}
