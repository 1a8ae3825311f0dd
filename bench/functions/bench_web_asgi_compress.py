"""The benchmark's FastAPI app through this runtime's ASGI bridge, with compression on (brotli when the `brotli`
package is importable, else gzip)."""

from bench_web_app import app  # type: ignore[import-not-found]  # bench/functions is the task root

from runtime.web import ASGIHandler

handler = ASGIHandler(app, compress=True)
