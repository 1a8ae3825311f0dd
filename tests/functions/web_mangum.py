"""The FastAPI app through Mangum, as users run it under awslambdaric: the anchor of the differential tests."""

from mangum import Mangum
from web_fastapi import app  # type: ignore[import-not-found]  # tests/functions is the task root

handler = Mangum(app)
base_path = Mangum(app, api_gateway_base_path="api", lifespan="off")
