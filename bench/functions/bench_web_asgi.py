"""The benchmark's FastAPI app through this runtime's ASGI bridge."""

from bench_web_app import app  # type: ignore[import-not-found]  # bench/functions is the task root

from runtime.web import ASGIHandler

handler = ASGIHandler(app)
