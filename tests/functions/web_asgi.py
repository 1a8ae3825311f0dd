"""The FastAPI app through this runtime's ASGI bridge."""

from web_fastapi import app  # type: ignore[import-not-found]  # tests/functions is the task root

from runtime.web import ASGIHandler

handler = ASGIHandler(app)
# A custom domain's API mapping "api" (rest-base-path.json).
base_path = ASGIHandler(app, api_gateway_base_path="api", lifespan="off")
