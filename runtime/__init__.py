"""A custom Python runtime for AWS Lambda with a built-in after-response phase: `after_response`, `defer`,
`on_init`, `on_shutdown`."""

from ._typing import TYPE_CHECKING
from .context import LambdaContext
from .current import phase_time_left, trace_id
from .hooks import DeferError, after_response, defer, on_init, on_shutdown
from .invocation import Invocation

if TYPE_CHECKING:
    from .handler import Handler

__version__ = "0.2.0"
__all__ = [
    "DeferError",
    "Handler",
    "Invocation",
    "LambdaContext",
    "__version__",
    "after_response",
    "defer",
    "on_init",
    "on_shutdown",
    "phase_time_left",
    "trace_id",
]


def __getattr__(name: str) -> object:
    # `Handler`, the type of a handler function, for annotations: built on first use, so that importing `runtime`
    # does not import `typing`.
    if name == "Handler":
        from collections.abc import Callable
        from typing import Any

        return Callable[[Any, Any], Any]
    raise AttributeError(f"module 'runtime' has no attribute {name!r}")
