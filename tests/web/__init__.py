"""Tests of the web bridge (runtime.web), and the recorded HTTP events they share (events/, see its README)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).parent / "events"
CORPUS = sorted(path.stem for path in EVENTS.glob("*.json"))


def recorded(name: str) -> dict[str, Any]:
    """One event of the corpus, as the service sends it."""
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return event


def get(path: str, query: str = "") -> dict[str, Any]:
    """A Function URL GET of `path` (the corpus's event, with another path and query string)."""
    event = copy.deepcopy(recorded("function-url-get"))
    event["rawPath"] = path
    event["rawQueryString"] = query
    event["requestContext"]["http"]["path"] = path
    event["queryStringParameters"] = dict(pair.split("=", 1) for pair in query.split("&")) if query else None
    return event
