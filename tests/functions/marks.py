"""Put an event on the test Runtime API's clock: `mark("hook-start")` is recorded with a timestamp."""

from __future__ import annotations

import http.client
import os


def mark(name: str) -> None:
    connection = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"], timeout=10)
    try:
        connection.request("GET", f"/test/mark/{name}")
        connection.getresponse().read()
    finally:
        connection.close()
