"""SnapStart's runtime hooks through the real bootstrap against the project's emulator (RIE cannot drive a
restore): the order of hooks and `/restore/next`, and the two failure paths, as awslambdaric 4.2.2 has them."""

from __future__ import annotations

import json

from emulator.server import LambdaApiServer
from tests.conftest import StartRuntime

SNAP_START = {"AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start"}


def mark_names(api: LambdaApiServer) -> list[str]:
    """The marks and the Runtime API calls that matter here, in the order the server received them."""
    names = []
    for request in list(api.requests):
        if request.path.startswith("/test/mark/"):
            names.append(request.path.rsplit("/", 1)[1])
        elif request.path.endswith(("/restore/next", "/invocation/next")):
            names.append(request.path.rsplit("/", 2)[1] + "/next")
    return names


def test_hooks_run_around_the_snapshot_in_awslambdarics_order(api: LambdaApiServer, start: StartRuntime) -> None:
    start("snapstart.handler", SNAP_START)
    assert api.invoke().json() == "restored"
    assert mark_names(api)[:6] == [
        "before-note-with-args",  # registered last, runs first
        "before-close_connections",
        "restore/next",
        "after-reconnect",
        "after-note",
        "invocation/next",
    ]


def test_without_snap_start_the_hooks_do_not_run(api: LambdaApiServer, start: StartRuntime) -> None:
    start("snapstart.handler", {"AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand"})
    assert api.invoke().json() == "restored"
    assert mark_names(api) == ["invocation/next"] * len(mark_names(api))


def test_a_failing_before_snapshot_hook_is_a_before_snapshot_init_error(
    api: LambdaApiServer, start: StartRuntime
) -> None:
    process = start("snapstart.handler", {**SNAP_START, "FAIL_BEFORE": "1"})
    assert process.wait() == 64
    error = api.init_error()
    assert error is not None
    assert error.headers["lambda-runtime-function-error-type"] == "Runtime.BeforeSnapshotError"
    document = json.loads(error.body)
    assert (document["errorType"], document["errorMessage"]) == ("RuntimeError", "cannot flush the cache")
    assert "restore/next" not in mark_names(api)  # no snapshot of a broken init


def test_a_failing_after_restore_hook_is_reported_to_restore_error(api: LambdaApiServer, start: StartRuntime) -> None:
    process = start("snapstart.handler", {**SNAP_START, "FAIL_AFTER": "1"})
    assert process.wait() == 65
    error = api.restore_error()
    assert error is not None
    assert error.headers["lambda-runtime-function-error-type"] == "Runtime.AfterRestoreError"
    assert json.loads(error.body)["errorType"] == "ConnectionError"
    assert "after-note" not in mark_names(api) and "invocation/next" not in mark_names(api)


def test_a_failed_restore_next_is_a_before_snapshot_error(api: LambdaApiServer, start: StartRuntime) -> None:
    api.interceptor = lambda request: (
        (500, {}, b'{"errorType": "Broken"}') if request.path.endswith("/restore/next") else None
    )
    process = start("snapstart.handler", SNAP_START)
    assert process.wait() == 64
    error = api.init_error()
    assert error is not None and error.headers["lambda-runtime-function-error-type"] == "Runtime.BeforeSnapshotError"
    assert "restore/next answered 500" in json.loads(error.body)["errorMessage"]
