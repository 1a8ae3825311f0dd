"""A custom Python runtime for AWS Lambda with a built-in after-response phase: `after_response`, `defer`,
`on_shutdown`."""

from .hooks import DeferError, Invocation, after_response, defer, on_shutdown

__version__ = "0.1.0"
__all__ = ["DeferError", "Invocation", "__version__", "after_response", "defer", "on_shutdown"]
