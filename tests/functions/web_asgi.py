"""The FastAPI app through this runtime's ASGI bridge."""

from web_fastapi import app  # type: ignore[import-not-found]  # tests/functions is the task root

from runtime.web import ASGIHandler

handler = ASGIHandler(app)
# A custom domain's API mapping "api" (rest-base-path.json).
base_path = ASGIHandler(app, api_gateway_base_path="api", lifespan="off")
# Lambda Web Adapter's options: 5xx responses as invocation errors; other events POSTed to /events.
errors = ASGIHandler(app, lifespan="off", error_status_codes="500-599")
events = ASGIHandler(app, lifespan="off", other_events=True)
