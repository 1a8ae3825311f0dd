"""The Flask app through this runtime's WSGI bridge."""

from web_flask import app  # type: ignore[import-not-found]  # tests/functions is the task root

from runtime.web import WSGIHandler

handler = WSGIHandler(app)
base_path = WSGIHandler(app, api_gateway_base_path="api")
