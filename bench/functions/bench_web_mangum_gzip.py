"""The benchmark's FastAPI app through Mangum under awslambdaric, compressed the way a Mangum user does it: Starlette's
`GZipMiddleware` around the app (gzip only, level 9 by default)."""

from bench_web_app import app  # type: ignore[import-not-found]  # bench/functions is the task root
from mangum import Mangum
from starlette.middleware.gzip import GZipMiddleware

handler = Mangum(GZipMiddleware(app, minimum_size=1024))
