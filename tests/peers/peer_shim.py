"""A pytest plugin for a peer's own test run (`-p peer_shim`, `PEER=mangum` or `PEER=apig-wsgi`): puts the
web bridge behind the peer's constructor, translating its options only, and writes each test's outcome and whether
it reached the bridge to the JSON file `PEER_RESULTS`.

A test that never made a handler through the constructor checks the peer's own internals (its handler classes, its
types): its outcome says nothing of the bridge, and it is reported as such, not as a pass.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

import pytest

from runtime.web import ASGIHandler, WSGIHandler

#: handlers made through the shim, and calls of them, during the current test
reached = 0
#: nodeid -> {"outcome": "passed" | "failed" | "skipped", "bridge": bool, "message": str}
results: dict[str, dict[str, Any]] = {}


class NotOffered(Exception):
    """The test asked for a constructor option the bridge does not have."""


def mangum(
    app: Any,
    lifespan: Any = "auto",
    api_gateway_base_path: str = "/",
    custom_handlers: Iterable[Any] | None = None,
    text_mime_types: Iterable[str] | None = None,
    exclude_headers: Iterable[str] | None = None,
) -> _Counted:
    _reach()
    if custom_handlers:
        raise NotOffered("custom_handlers: the bridge's event classes are not pluggable")
    return _Counted(
        ASGIHandler(
            app,
            lifespan=lifespan,
            api_gateway_base_path=api_gateway_base_path,
            text_mime_types=text_mime_types,
            exclude_headers=exclude_headers or (),
        )
    )


def make_lambda_handler(
    wsgi_app: Any,
    binary_support: bool | None = None,
    non_binary_content_type_prefixes: Iterable[str] | None = None,
) -> _Counted:
    _reach()
    if binary_support is False:  # True is what the bridge always does
        raise NotOffered("binary_support=False: the bridge always sends non-text bodies base64-encoded")
    return _Counted(WSGIHandler(wsgi_app, text_mime_types=non_binary_content_type_prefixes))


class _Counted:
    """A handler whose calls count as reaching the bridge (a suite may make its handler at import)."""

    def __init__(self, handler: Any) -> None:
        self.handler = handler

    def __call__(self, event: Any, context: Any) -> Any:
        _reach()
        return self.handler(event, context)


def _reach() -> None:
    global reached
    reached += 1


def pytest_configure(config: pytest.Config) -> None:
    # Before collection, so that the suite's `from mangum import Mangum` gets the shim.
    peer = os.environ["PEER"]
    if peer == "mangum":
        import mangum as package

        package.Mangum = mangum  # type: ignore[misc, assignment]
    elif peer == "apig-wsgi":
        import apig_wsgi

        apig_wsgi.make_lambda_handler = make_lambda_handler
    else:
        raise pytest.UsageError(f"PEER must be mangum or apig-wsgi, not {peer!r}")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    global reached
    reached = 0  # before the test's fixtures, which may make its handler


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    entry = results.setdefault(report.nodeid, {"outcome": "passed", "bridge": False, "message": ""})
    entry["bridge"] = entry["bridge"] or reached > 0
    if report.outcome != "passed" and entry["outcome"] == "passed":
        entry["outcome"] = report.outcome
        entry["message"] = _last_line(report)


def pytest_sessionfinish(session: pytest.Session) -> None:
    with open(os.environ["PEER_RESULTS"], "w") as file:
        json.dump(results, file, indent=1, sort_keys=True)


def _last_line(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr)
    return text.strip().splitlines()[0][:300] if text.strip() else ""
