"""The Flask app through apig-wsgi, as users run it under awslambdaric: the anchor of the differential tests."""

from apig_wsgi import make_lambda_handler
from web_flask import app  # type: ignore[import-not-found]  # tests/functions is the task root

handler = make_lambda_handler(app)
