"""Web apps as Lambda handlers: `ASGIHandler(app)` (FastAPI, Starlette, ...) and `WSGIHandler(app)` (Flask, Django,
...) for API Gateway, Function URLs, ALB and Lambda@Edge, with the app's work after its response in the
after-response phase. No web framework is a dependency of the runtime."""

from .adapter import ErrorStatusResponse
from .asgi import ASGIHandler, LifespanError
from .events import EventNotHandled, HttpRequest, UnsupportedEvent
from .wsgi import WSGIHandler

__all__ = [
    "ASGIHandler",
    "ErrorStatusResponse",
    "EventNotHandled",
    "HttpRequest",
    "LifespanError",
    "UnsupportedEvent",
    "WSGIHandler",
]
