"""The loop through the real bootstrap process, against a Runtime API server that records every request."""

from __future__ import annotations

import json
import signal

import pytest

from emulator.server import LambdaApiServer, Recorded, Result
from tests.conftest import StartRuntime
from tests.support import FUNCTIONS, Process, base_env, free_port, runtime_command, start_runtime, without_coverage


def test_a_dict_result_is_posted_as_json(api: LambdaApiServer, start: StartRuntime) -> None:
    start("zoo.dict_result")
    result = api.invoke(b"{}")
    assert result.kind == "response"
    assert result.json() == {"a": 1, "b": [1, 2.5, None, True], "c": {"d": "e"}}
    assert result.headers["content-type"] == "application/json"


def test_bytes_pass_through_with_awslambdarics_content_type(api: LambdaApiServer, start: StartRuntime) -> None:
    start("zoo.bytes_result")
    result = api.invoke()
    assert result.body == b"\x00\x01binary\xff"
    assert result.headers["content-type"] == "application/unknown"


@pytest.mark.parametrize(
    ("handler", "body"),
    [
        ("zoo.decimal_result", b'{"price": 19.990, "big": 1E+400, "nan": NaN}'),
        ("zoo.float_specials", b'{"nan": NaN, "inf": Infinity, "ninf": -Infinity, "tiny": 1e-300}'),
        ("zoo.none_result", b"null"),
        ("zoo.string_result", b'"just a string"'),
    ],
)
def test_results_are_marshalled_as_awslambdaric_does(
    api: LambdaApiServer, start: StartRuntime, handler: str, body: bytes
) -> None:
    start(handler)
    assert api.invoke().body == body


@pytest.mark.parametrize(
    ("initialization_type", "preloaded"),
    [("on-demand", False), ("provisioned-concurrency", True), ("snap-start", True)],
)
def test_simplejson_is_loaded_at_init_only_when_init_runs_ahead_of_invocations(
    api: LambdaApiServer, start: StartRuntime, initialization_type: str, preloaded: bool
) -> None:
    start("modules.loaded", {"AWS_LAMBDA_INITIALIZATION_TYPE": initialization_type})
    assert api.invoke(b'["simplejson"]').json() == {"simplejson": preloaded}


# What the runtime leaves out of a cold start (docs/design.md "Cold start"): each costs 0.5-4 ms of import.
COLD_START_FREE = ["simplejson", "json", "re", "enum", "typing", "threading", "collections", "logging", "decimal",
                   "dataclasses", "socket", "signal", "functools", "importlib", "warnings", "asyncio",
                   "runtime.aio"]  # fmt: skip


def test_a_cold_start_imports_none_of_the_heavy_standard_modules(api: LambdaApiServer) -> None:
    # Not under coverage measurement, which imports modules of its own in the process.
    process = Process(
        runtime_command("modules.loaded"), without_coverage(base_env({"AWS_LAMBDA_RUNTIME_API": api.address}))
    )
    try:
        loaded = api.invoke(json.dumps(COLD_START_FREE).encode()).json()
        assert [name for name, present in loaded.items() if present] == []
        # The control: the handler does see what is imported.
        assert api.invoke(b'["runtime", "_json"]').json() == {"runtime": True, "_json": True}
    finally:
        process.stop()


def test_non_ascii_is_sent_as_utf8(api: LambdaApiServer, start: StartRuntime) -> None:
    start("zoo.unicode_result")
    body = api.invoke().body
    assert "héllo wörld ✓ 🚀".encode() in body
    assert json.loads(body)["cjk"] == "日本語"


def test_a_non_json_event_reaches_the_handler_as_bytes(api: LambdaApiServer, start: StartRuntime) -> None:
    start("zoo.raw_event")
    result = api.invoke(b"\xffnot json", headers={"Content-Type": "application/octet-stream"})
    assert result.json() == {"type": "bytes", "length": 9}


def test_an_event_that_is_not_json_is_an_unmarshal_error(api: LambdaApiServer, start: StartRuntime) -> None:
    start("zoo.echo")
    result = api.invoke(b"{not json")
    assert result.kind == "error"
    assert result.json()["errorType"] == "Runtime.UnmarshalError"
    assert result.json()["errorMessage"].startswith("Unable to unmarshal input: Expecting property name")
    assert result.headers["lambda-runtime-function-error-type"] == "Runtime.UnmarshalError"


@pytest.mark.parametrize(
    ("header", "value", "message"),
    [
        ("Lambda-Runtime-Client-Context", "{broken", "Unable to parse Client Context JSON: "),
        ("Lambda-Runtime-Cognito-Identity", "[1]", "Unable to parse Cognito Identity JSON: expected an object"),
    ],
)
def test_bad_context_headers_are_a_context_unmarshal_error(
    api: LambdaApiServer, start: StartRuntime, header: str, value: str, message: str
) -> None:
    start("zoo.echo")
    result = api.invoke(b"{}", headers={header: value})
    assert result.json()["errorType"] == "Runtime.LambdaContextUnmarshalError"
    assert result.json()["errorMessage"].startswith(message)


def test_an_exception_becomes_an_error_report_without_runtime_frames(api: LambdaApiServer, start: StartRuntime) -> None:
    process = start("zoo.raise_chained")
    result = api.invoke()
    report = result.json()
    assert report["errorType"] == "RuntimeError"
    assert report["errorMessage"] == "outer"
    assert report["requestId"] == api.find("/error")[0].path.split("/")[-2]
    assert report["stackTrace"][0].startswith('  File "') and "zoo.py" in report["stackTrace"][0]
    assert not any("/runtime/" in frame for frame in report["stackTrace"])
    assert result.headers["lambda-runtime-function-error-type"] == "Function.RuntimeError"
    cause = json.loads(result.headers["lambda-runtime-function-xray-error-cause"])
    assert cause["exceptions"][0]["type"] == "RuntimeError"
    assert cause["exceptions"][0]["stack"][0]["label"] == "raise_chained"
    # One CloudWatch event: the traceback is joined with \r, not \n.
    line = next(line for line in process.output().split("\n") if line.startswith("[ERROR] RuntimeError: outer"))
    assert "\rTraceback (most recent call last):\r" in line


def test_an_exception_whose_str_raises_is_still_reported(api: LambdaApiServer, start: StartRuntime) -> None:
    start("zoo.raise_unprintable")
    report = api.invoke().json()
    assert report["errorType"] == "Unprintable"
    assert report["errorMessage"] == "<exception str() failed: Unprintable>"
    assert api.invoke().kind == "error"  # and the runtime still serves


@pytest.mark.parametrize(
    ("handler", "message"),
    [
        ("zoo.unserialisable", "Unable to marshal response: Object of type object is not JSON serializable"),
        ("zoo.circular", "Unable to marshal response: Circular reference detected"),
    ],
)
def test_an_unserialisable_result_is_a_marshal_error(
    api: LambdaApiServer, start: StartRuntime, handler: str, message: str
) -> None:
    start(handler)
    report = api.invoke().json()
    assert report == {"errorMessage": message, "errorType": "Runtime.MarshalError", "requestId": report["requestId"],
                      "stackTrace": []}  # fmt: skip


@pytest.mark.parametrize(
    ("handler", "error_type", "message"),
    [
        ("nodot", "Runtime.MalformedHandlerName",
         "Bad handler 'nodot': not enough values to unpack (expected 2, got 1)"),
        ("sys.handler", "Runtime.BuiltInModuleConflict", "Cannot use built-in module sys as a handler module"),
        ("missing_module.handler", "Runtime.ImportModuleError",
         "Unable to import module 'missing_module': No module named 'missing_module'"),
        ("broken/import_error.handler", "Runtime.ImportModuleError",
         "Unable to import module 'broken/import_error': No module named 'module_that_does_not_exist'"),
        ("broken/syntax_error.handler", "Runtime.UserCodeSyntaxError",
         "Syntax error in module 'broken/syntax_error'"),
        ("broken/no_handler.handler", "Runtime.HandlerNotFound",
         "Handler 'handler' missing on module 'broken/no_handler'"),
        ("broken/raises_at_import.handler", "RuntimeError", "failed during import"),
        ("broken/exits_at_import.handler", "SystemExit", "4"),
    ],
)  # fmt: skip
def test_init_errors_are_posted_with_their_type_then_the_runtime_exits_1(
    api: LambdaApiServer, start: StartRuntime, handler: str, error_type: str, message: str
) -> None:
    process = start(handler)
    assert process.wait(10) == 1
    [posted] = api.find("/runtime/init/error")
    report = json.loads(posted.body)
    assert report["errorType"] == error_type
    assert report["errorMessage"].startswith(message)
    assert report["requestId"] == ""
    assert posted.headers["lambda-runtime-function-error-type"].endswith(error_type.rpartition(".")[2])
    assert not api.find("/invocation/next")
    assert f"[ERROR] {error_type}: {message}" in process.output()


@pytest.mark.parametrize(
    ("handler", "module"), [("pkg.sub.mod.handler", "pkg.sub.mod"), ("dirmod/mod.handler", "dirmod.mod")]
)
def test_handler_strings_resolve_packages_and_directories(
    api: LambdaApiServer, start: StartRuntime, handler: str, module: str
) -> None:
    start(handler)
    assert api.invoke().json() == {"where": module}


def test_the_context_carries_every_awslambdaric_attribute(api: LambdaApiServer, start: StartRuntime) -> None:
    start("zoo.context_attrs")
    client_context = {"custom": {"k": "v"}, "env": {"platform": "x"}, "client": {"app_title": "app"},
                      "w3c": {"traceparent": "00-abc-def-01", "other": "dropped"}}  # fmt: skip
    result = api.invoke(
        b"{}",
        headers={
            "Lambda-Runtime-Client-Context": json.dumps(client_context),
            "Lambda-Runtime-Cognito-Identity": '{"cognitoIdentityId": "id1", "cognitoIdentityPoolId": "pool1"}',
            "Lambda-Runtime-Aws-Tenant-Id": "tenant-7",
        },
    )
    assert result.json() == {
        "aws_request_id_set": True,
        "log_group_name": "/aws/lambda/test_function",
        "log_stream_name": "2026/11/22/[$LATEST]0123456789abcdef",
        "function_name": "test_function",
        "memory_limit_in_mb": "3008",
        "function_version": "$LATEST",
        "invoked_function_arn": "arn:aws:lambda:us-east-1:012345678912:function:test_function",
        "tenant_id": "tenant-7",
        "remaining_positive": True,
        "identity": ["id1", "pool1"],
        "client_context": {
            "custom": {"k": "v"},
            "env": {"platform": "x"},
            "client": "Client([installation_id=None,app_title=app,app_version_name=None,app_version_code=None,"
            "app_package_name=None])",
        },
        "w3c": {"traceparent": "00-abc-def-01"},
        "repr_prefix": "LambdaContext(",
        "epoch_deadline_matches": True,
    }


def test_the_trace_id_is_set_per_invocation_and_removed_when_absent(api: LambdaApiServer, start: StartRuntime) -> None:
    start("zoo.trace_env")
    trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    assert api.invoke(b"{}", headers={"Lambda-Runtime-Trace-Id": trace}).json() == {"trace": trace}
    assert api.invoke(b"{}").json() == {"trace": None}


def test_the_invocation_id_is_echoed_when_lambda_sends_one(api: LambdaApiServer, start: StartRuntime) -> None:
    start("zoo.echo")
    api.invoke(b"{}", headers={"Lambda-Runtime-Invocation-Id": "nonce-1"})
    api.invoke(b"{}")
    first, second = api.find("/response")
    assert first.headers["lambda-runtime-invocation-id"] == "nonce-1"
    assert "lambda-runtime-invocation-id" not in second.headers


def test_logs_carry_the_request_id_in_text_format(api: LambdaApiServer, start: StartRuntime) -> None:
    process = start("zoo.logs")
    request_id = api.submit(b"{}")
    api.result(request_id)
    output = process.wait_output("context.log line")
    assert "printed line\n" in output
    assert "[WARNING]\t" in output and f"Z\t{request_id}\ta warning with args\n" in output
    assert "[ERROR]\t" in output and f"\t{request_id}\troot error\n" in output
    assert "info is below the default level" not in output
    assert "stderr line\n" in output


def test_json_log_format_and_level(api: LambdaApiServer, start: StartRuntime) -> None:
    process = start("zoo.logs", {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "INFO"})
    request_id = api.submit(b"{}")
    api.result(request_id)
    output = process.wait_output("context.log line")
    records = [json.loads(line) for line in output.splitlines() if line.startswith('{"timestamp"')]
    by_message = {record.get("message"): record for record in records}
    warning = by_message["a warning with args"]
    assert warning["level"] == "WARNING" and warning["requestId"] == request_id and warning["logger"] == "zoo"
    assert by_message["info is below the default level"]["level"] == "INFO"
    caught = by_message["caught it"]
    assert caught["errorType"] == "ValueError" and caught["errorMessage"] == "logged exception"
    assert caught["location"].startswith(str(FUNCTIONS / "zoo.py") + ":logs:")


def test_an_oversized_response_is_refused_and_the_runtime_goes_on(api: LambdaApiServer, start: StartRuntime) -> None:
    process = start("zoo.too_large")
    result = api.invoke()
    assert result.json()["errorType"] == "Function.ResponseSizeTooLarge"
    assert api.find("/response")[0].status == 413
    assert "413, response too large" in process.wait_output("413")
    assert api.invoke().json()["errorType"] == "Function.ResponseSizeTooLarge"  # still serving


@pytest.mark.parametrize("status", [400, 403, 410])
def test_a_refused_response_is_logged_and_the_runtime_goes_on(
    api: LambdaApiServer, start: StartRuntime, status: int
) -> None:
    refused: list[Recorded] = []

    def refuse_first_response(request: Recorded) -> tuple[int, dict[str, str], bytes] | None:
        if request.path.endswith("/response") and not refused:
            refused.append(request)
            # Lambda has closed this invocation (timed out, say) and refuses the late response.
            api.finish_current(Result("timeout", b"", {}, request.at))
            return status, {}, b'{"errorType": "Scripted", "errorMessage": "no"}'
        return None

    api.interceptor = refuse_first_response
    process = start("zoo.echo")
    api.submit(b'{"n": 1}')
    assert api.invoke(b'{"n": 2}').json() == {"n": 2}
    assert refused
    assert "the Runtime API refused the invocation's result: " in process.output()
    assert f"answered {status}" in process.output()


def test_a_500_on_next_makes_the_runtime_exit_promptly(api: LambdaApiServer, start: StartRuntime) -> None:
    api.interceptor = lambda r: (500, {}, b'{"errorType": "InternalServerError"}') if r.path.endswith("/next") else None
    process = start("zoo.echo")
    assert process.wait(10) == 2
    assert "the Runtime API failed, exiting" in process.output()


def test_no_runtime_api_means_a_clear_message_and_a_fast_exit() -> None:
    process = start_runtime(f"127.0.0.1:{free_port()}", "zoo.echo", {"RUNTIME_EXTENSION": "0"})
    try:
        assert process.wait(10) == 2
        assert "cannot connect to the Runtime API at 127.0.0.1:" in process.output()
    finally:
        process.stop()


@pytest.mark.parametrize(("handler", "message", "status"), [("zoo.system_exit", "3", 3),
                                                          ("zoo.system_exit_no_code", "", 0)])  # fmt: skip
def test_sys_exit_in_the_handler_is_reported_then_honoured(
    api: LambdaApiServer, start: StartRuntime, handler: str, message: str, status: int
) -> None:
    process = start(handler)
    report = api.invoke().json()
    assert report["errorType"] == "SystemExit" and report["errorMessage"] == message
    assert process.wait(10) == status


def test_sigterm_while_waiting_for_an_event_exits_0(api: LambdaApiServer, start: StartRuntime) -> None:
    process = start("faults.mark_when_waiting_for_next")
    api.invoke()
    # The main thread blocks in the second /next's wait (the server may record the mark before that /next: its
    # connection's thread runs when it is scheduled).
    api.wait_for(lambda: bool(api.marks("waiting-for-next")) and len(api.find("/invocation/next")) == 2)
    process.popen.send_signal(signal.SIGTERM)
    assert process.wait(5) == 0


def test_a_bad_runtime_setting_is_an_init_error_naming_the_variable(api: LambdaApiServer, start: StartRuntime) -> None:
    process = start("zoo.echo", {"RUNTIME_AFTER_RESPONSE_MARGIN_MS": "soon"})
    assert process.wait(10) == 1
    report = json.loads(one_init_error(api).body)
    assert report["errorType"] == "Runtime.ConfigInvalid"
    assert report["errorMessage"] == (
        "Invalid configuration: RUNTIME_AFTER_RESPONSE_MARGIN_MS must be a whole number >= 0, not 'soon'"
    )


def one_init_error(api: LambdaApiServer) -> Recorded:
    [posted] = api.find("/runtime/init/error")
    return posted


def test_logging_imported_after_init_gets_the_lambda_handler(api: LambdaApiServer, start: StartRuntime) -> None:
    process = start("late_logging.handler")
    request_id = api.submit(b"{}")
    assert api.result(request_id).json() == {"imported_before": False, "root_handlers": 1}
    assert f"Z\t{request_id}\tlate warning\n" in process.wait_output("late warning")
