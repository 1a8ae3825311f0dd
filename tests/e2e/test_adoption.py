"""The adoption round, through the real bootstrap: `@on_init` for clients bound to the event loop, misspelt and bad
`RUNTIME_*` settings reported as what they are, failed hooks' traces that start at the user's code, and an ASGI app's
background tasks named by their own names."""

from __future__ import annotations

import json
from typing import Any

import pytest

from emulator.server import LambdaApiServer, Result
from tests.conftest import StartRuntime
from tests.support import ROOT, Process, base_env, init_error_document, runtime_command, without_coverage
from tests.web import get

RUNTIME_DIR = str(ROOT / "runtime")


def run(api: LambdaApiServer, event: object) -> tuple[str, Result]:
    request_id = api.submit(json.dumps(event).encode())
    result = api.result(request_id)
    api.wait_ended(request_id)
    return request_id, result


def json_records(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


# 1. @on_init: a client bound to the event loop, made at init ----------------------------------------------------


def test_init_hooks_run_in_order_after_the_import_and_before_the_first_next_on_the_handlers_loop(
    api: LambdaApiServer, start: StartRuntime
) -> None:
    start("adoption.handler")
    request_ids = []
    for _ in range(2):  # a cold and a warm invocation
        request_id, result = run(api, {})
        assert result.kind == "response" and result.json() == f"handled-{request_id}", result.body
        request_ids.append(request_id)
    [imported] = api.marks("module-imported")
    [first] = api.marks("init-first")  # once: init hooks do not run per invocation
    [client] = api.marks("init-client")
    first_next = api.find("/invocation/next")[0]
    assert imported.at < first.at < client.at < first_next.at
    # The client made at init served the handler (its result), a deferred coroutine and a coroutine hook: the same
    # loop, or the client would have refused.
    for request_id in request_ids:
        timing = api.timing(request_id)
        [deferred] = api.marks(f"deferred-{request_id}")
        [hook] = api.marks(f"hook-{request_id}")
        assert timing.responded_at < deferred.at < hook.at < timing.runtime_next_at


def test_an_init_hook_that_raises_is_an_init_error_with_its_own_trace(
    api: LambdaApiServer, start: StartRuntime
) -> None:
    process = start("adoption.handler", {"ADOPTION_INIT_FAILS": "1"})
    document = init_error_document(api, process)
    assert (document["errorType"], document["errorMessage"]) == ("ConnectionError", "the database is unreachable")
    assert "adoption.py" in document["stackTrace"][0] and "in open_client" in document["stackTrace"][0]
    assert not any(RUNTIME_DIR in frame for frame in document["stackTrace"])
    assert api.marks("init-first") and not api.marks("init-client")  # the hooks before it ran, in order
    assert not api.find("/invocation/next")
    output = process.output()
    assert "[ERROR] ConnectionError: the database is unreachable" in output
    assert "LAMBDA_WARNING: Unhandled exception" in output


def test_a_loop_bound_client_made_at_import_fails_as_before_and_the_error_points_to_on_init(
    api: LambdaApiServer, start: StartRuntime
) -> None:
    process = start("adoption.handler", {"ADOPTION_CLIENT_AT_IMPORT": "1"})
    document = init_error_document(api, process)
    assert document["errorType"] == "RuntimeError"
    assert document["errorMessage"].startswith("no running event loop: ")
    assert "@runtime.on_init" in document["errorMessage"]
    assert "adoption.py" in document["stackTrace"][0]  # the module's line that made the client
    assert not api.marks("init-first")  # the import failed: no init hook runs


def test_under_awslambdaric_an_init_hook_runs_as_it_is_registered_with_one_warning(
    api: LambdaApiServer, start: StartRuntime
) -> None:
    process = start("adoption.sync_handler", runtime="awslambdaric")
    _, result = run(api, {})
    assert result.json() == {"client": True}
    [client] = api.marks("init-client")
    [imported] = api.marks("module-imported")
    assert client.at < imported.at  # at registration: awslambdaric has no init step after the import
    output = process.output()
    assert output.count("this function is served by another runtime") == 1, output
    assert "@on_init hook adoption.first runs as it is registered" in output


# 2. A misspelt RUNTIME_* variable is named, with the setting it is closest to -------------------------------------


def test_a_misspelt_setting_is_named_in_one_warning_with_the_closest_setting(
    api: LambdaApiServer, start: StartRuntime
) -> None:
    process = start("modules.loaded", {"RUNTIME_AFTER_RESPONSE_MARGN_MS": "100", "RUNTIME_STAGE": "prod"})
    assert api.invoke(b'["difflib"]').json() == {"difflib": True}
    output = process.output()
    warnings = [line for line in output.splitlines() if "not a setting of this runtime" in line]
    assert len(warnings) == 1, output
    assert (
        "config: RUNTIME_AFTER_RESPONSE_MARGN_MS (did you mean RUNTIME_AFTER_RESPONSE_MARGIN_MS?), RUNTIME_STAGE: "
        "not a setting of this runtime, ignored"
    ) in warnings[0]
    assert warnings[0].startswith("[WARNING]")
    assert "RUNTIME_PYTHON" not in output  # bootstrap's own variable (the tests always set it)


def test_without_unknown_settings_no_warning_and_no_difflib(api: LambdaApiServer) -> None:
    # Not under coverage measurement, which imports modules of its own in the process.
    env = without_coverage(base_env({"AWS_LAMBDA_RUNTIME_API": api.address, "RUNTIME_GC": "off"}))
    process = Process(runtime_command("modules.loaded"), env)
    try:
        assert api.invoke(b'["difflib"]').json() == {"difflib": False}
        assert "not a setting of this runtime" not in process.output()
    finally:
        process.stop()


# 3. A bad setting is a configuration error, not the function code's -----------------------------------------------


@pytest.mark.parametrize("log_format", ["Text", "JSON"])
def test_a_bad_setting_is_reported_as_a_configuration_error_without_a_trace(
    api: LambdaApiServer, start: StartRuntime, log_format: str
) -> None:
    process = start("zoo.echo", {"RUNTIME_AFTER_RESPONSE_MARGIN_MS": "soon", "AWS_LAMBDA_LOG_FORMAT": log_format})
    document = init_error_document(api, process)
    message = "Invalid configuration: RUNTIME_AFTER_RESPONSE_MARGIN_MS must be a whole number >= 0, not 'soon'"
    assert document == {
        "errorMessage": message,
        "errorType": "Runtime.ConfigInvalid",
        "requestId": "",
        "stackTrace": [],
    }
    output = process.output()
    assert "issue in the function code" not in output
    assert "LAMBDA_WARNING: Invalid configuration" in output
    if log_format == "JSON":
        [record] = [r for r in json_records(output) if r["level"] == "ERROR"]
        assert (record["errorType"], record["errorMessage"]) == ("Runtime.ConfigInvalid", message)
        assert "stackTrace" not in record
    else:
        assert f"[ERROR] Runtime.ConfigInvalid: {message}" in output
        assert "Traceback" not in output


# 4. A failed hook's trace starts at the user's frame -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fail", "name", "function"),
    [
        ("sync hook", "adoption.failing_hook", "failing_hook"),
        ("async hook", "adoption.failing_async_hook", "failing_async_hook"),
        ("deferred", "adoption.failing_deferred", "failing_deferred"),
    ],
)
@pytest.mark.parametrize("log_format", ["Text", "JSON"])
def test_a_failed_hooks_logged_trace_starts_at_the_users_frame(
    api: LambdaApiServer, start: StartRuntime, fail: str, name: str, function: str, log_format: str
) -> None:
    process = start("adoption.handler", {"AWS_LAMBDA_LOG_FORMAT": log_format})
    _, result = run(api, {"fail": fail})
    assert result.kind == "response"
    output = process.output()
    if log_format == "JSON":
        [record] = [r for r in json_records(output) if r.get("hook") == name and r["level"] == "ERROR"]
        frames = record["stackTrace"]
    else:
        # The runtime's multi-line records are one line, their lines joined by "\r" (which splitlines() splits at).
        [record_text] = [line for line in output.split("\n") if f"after-response: {name} failed: ValueError" in line]
        frames = [line.strip() for line in record_text.split("\r") if line.strip().startswith('File "')]
    assert frames, output
    assert "adoption.py" in frames[0] and f"in {function}" in frames[0], frames
    assert not any(RUNTIME_DIR in frame for frame in frames), frames


# 5. An ASGI app's background tasks are named by their own names ----------------------------------------------------


def test_the_phase_names_the_apps_background_tasks_not_the_bridge(api: LambdaApiServer, start: StartRuntime) -> None:
    process = start("adoption_web.handler", {"AWS_LAMBDA_LOG_FORMAT": "JSON"})
    expected = {
        "/one": "adoption_web.send_receipt",
        "/two": "adoption_web.send_receipt+adoption_web.update_stats",
        "/response-task": "adoption_web.update_stats",
        "/fails": "adoption_web.charge",
        "/none": "fastapi.applications.FastAPI",  # no background task: the app's own code after its response
    }
    request_ids = {path: run(api, get(path))[0] for path in expected}
    assert api.marks("receipt-one") and api.marks("receipt-two") and api.marks("stats-two")
    assert api.marks("stats-response-task")
    records = json_records(process.output())
    summaries = {r["requestId"]: r["afterResponse"] for r in records if "afterResponse" in r}
    for path, name in expected.items():
        items = summaries[request_ids[path]]["items"]
        assert [item["name"] for item in items] == [name], (path, items)
    [failure] = [r for r in records if r["level"] == "ERROR"]
    assert failure["message"] == (
        "after-response: adoption_web.charge failed: RuntimeError: the card was declined for fails"
    )
    assert "finish_app" not in process.output()
