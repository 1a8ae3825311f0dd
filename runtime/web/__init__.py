"""Web apps as Lambda handlers: `ASGIHandler(app)` (FastAPI, Starlette, ...) and `WSGIHandler(app)` (Flask, Django,
...) for API Gateway, Function URLs and ALB, with the app's work after its response in the after-response phase.
No web framework is a dependency of the runtime."""

from .asgi import ASGIHandler, LifespanError
from .events import HttpRequest, UnsupportedEvent
from .wsgi import WSGIHandler

__all__ = ["ASGIHandler", "HttpRequest", "LifespanError", "UnsupportedEvent", "WSGIHandler"]
