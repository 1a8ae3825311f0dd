"""The benchmark's FastAPI app through Mangum (defaults), as users run it under awslambdaric."""

from bench_web_app import app  # type: ignore[import-not-found]  # bench/functions is the task root
from mangum import Mangum

handler = Mangum(app)
