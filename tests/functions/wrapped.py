"""What a handler sees when an exec wrapper (AWS_LAMBDA_EXEC_WRAPPER) started the runtime."""

from __future__ import annotations

import os
import sys
from typing import Any


def handler(event: Any, context: Any) -> dict[str, Any]:
    return {
        "wrapped": os.environ.get("WRAPPED_BY"),
        # The module an otel-instrument-style wrapper's sitecustomize imports at interpreter start.
        "instrumented": "instrumentation_probe" in sys.modules,
        "executable": sys.executable,
    }
