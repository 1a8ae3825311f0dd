"""Sentry through runtime.integrations.sentry: the handler's unhandled error is captured and sent after the
response (SENTRY_DSN points at a loopback endpoint)."""

from __future__ import annotations

import os
from typing import Any

import sentry_sdk

from runtime.integrations.sentry import AfterResponseIntegration

sentry_sdk.init(dsn=os.environ["SENTRY_DSN"], integrations=[AfterResponseIntegration()])


def handler(event: Any, context: Any) -> dict[str, bool]:
    sentry_sdk.add_breadcrumb(message=f"order {event.get('order')}")
    if event.get("fail"):
        raise ValueError("card declined")
    return {"ok": True}
