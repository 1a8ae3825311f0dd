"""Differential tests: each invocation runs under the real RIE twice, once with `python -m awslambdaric` (the
reference, awslambdaric 4.x) and once with our `bootstrap`, and what a caller and a log reader see is compared.

Compared, for every request: the HTTP status RIE answers, the response body byte for byte (request ids replaced by a
placeholder), and the function's log lines (RIE's own START/END/REPORT and `(rapid)` lines removed, request ids and
timestamps replaced by placeholders). One RIE per (runtime, handler) serves all requests of a group; the two runtimes
of a group run side by side.

The known, intended differences each have their own test below, asserting each side's behaviour explicitly:
(a) non-ASCII in JSON (responses, error bodies, JSON error log lines): awslambdaric escapes it as \\uXXXX when
    AWS_EXECUTION_ENV is not a managed python3.12+ runtime (as on provided.*), we write UTF-8;
(b) an exception whose `__str__` raises crashes awslambdaric; ours reports a clean error;
(c) the init warning: awslambdaric logs a long `LAMBDA_WARNING: Unhandled exception. ...` paragraph, we log one short
    line with the same start;
(d) `sys.exit()` in the handler: awslambdaric's process just exits; ours posts a SystemExit error body, then exits;
(e) our internal extension (RIE's `(rapid)` lines show it, they are not function lines) and our `after-response:`
    summary line, only written when there was after-response work (none of these handlers has any);
and what this suite found beyond those (see each test's docstring); (f) and (g) are awslambdaric bugs we do not copy:
(f) a response over 6 MiB: awslambdaric crashes on RAPID's 413, ours logs it and serves the next invocation;
(g) a client context that is JSON but not an object, or whose `client` is not an object: awslambdaric fails with an
    AttributeError from its own code;
(h) `sys.exit()` while importing the handler module: awslambdaric just exits, ours reports an init error
    (runtime/main.py catches BaseException there on purpose);
(i) the trace of an exception raised while importing the handler's module: awslambdaric's starts with the frames of
    importlib and the import machinery (2 on Python 3.11, ~8 on 3.12+), ours has the user's frames only.

What RIE does not let us vary: it delivers every event as `application/json` whatever the caller's Content-Type (so
the raw-bytes event path cannot be reached through RIE; non-JSON bytes are an UnmarshalError on both sides), and it does
not pass `X-Amzn-Trace-Id` on to the runtime (`_X_AMZN_TRACE_ID` is unset on both sides).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from awslambdaric.lambda_literals import lambda_unhandled_exception_warning_message

from tests.rie import Call, Request, Run, request, run_both

pytestmark = pytest.mark.rie

JSON_LOGS = {"AWS_LAMBDA_LOG_FORMAT": "JSON"}
WARNING_START = "LAMBDA_WARNING: Unhandled exception."
# The paragraph awslambdaric logs (it ends with "\r"); ours is a prefix-compatible short line.
RIC_WARNING: str = lambda_unhandled_exception_warning_message


def client_context(value: Any) -> dict[str, str]:
    """RIE passes `X-Amz-Client-Context` (base64 JSON) on as the runtime's `Lambda-Runtime-Client-Context`."""
    return {"X-Amz-Client-Context": base64.b64encode(json.dumps(value).encode()).decode()}


@dataclass(frozen=True)
class Group:
    handler: str
    requests: list[Request]
    env: Mapping[str, str] = field(default_factory=dict)


_BIG_EVENT = {"items": [{"id": i, "name": f"item-{i}", "tags": ["a", "b"], "price": i * 1.25} for i in range(1450)]}
assert 95_000 < len(json.dumps(_BIG_EVENT)) < 110_000

# Groups whose every request must give identical status, body and function log lines.
IDENTICAL: dict[str, Group] = {
    "echo": Group(
        "zoo.echo",
        [
            request("object", {"k": [1, 2.5, None, True], "s": "x", "nested": {"a": {"b": []}}}),
            request("empty-object", {}),
            request("null", None),
            request("number", 5),
            request("string", "hello"),
            request("list", [1, "a", False]),
            request("100KB-event", _BIG_EVENT),
            request("non-JSON-bytes", b"not json at all"),
            # RIE sends application/json whatever the caller says: an UnmarshalError on both sides.
            request("non-JSON-bytes-text/plain", b"plain text", {"Content-Type": "text/plain"}),
        ],
    ),
    # raw_event reports the event's type: "str" here shows RIE turned text/plain into a JSON event.
    "raw_event": Group(
        "zoo.raw_event", [request("JSON-string-sent-as-text/plain", b'"abc"', {"Content-Type": "text/plain"})]
    ),
    "dict_result": Group("zoo.dict_result", [request("dict", {})]),
    "string_result": Group("zoo.string_result", [request("string", {})]),
    "none_result": Group("zoo.none_result", [request("none", {})]),
    "int_result": Group("zoo.int_result", [request("int", {})]),
    "decimal_result": Group("zoo.decimal_result", [request("decimal", {})]),
    "float_specials": Group("zoo.float_specials", [request("nan-infinity", {})]),
    "bytes_result": Group("zoo.bytes_result", [request("bytes", {})]),
    "large_result": Group("zoo.large_result", [request("1MB", {"size": 1_000_000})]),
    "context_attrs": Group(
        "zoo.context_attrs",
        [
            request("no-client-context", {}),
            request(
                "client-context",
                {},
                client_context(
                    {
                        "custom": {"k": "v"},
                        "env": {"platform": "x"},
                        "client": {"installation_id": "i-1", "app_title": "t"},
                        "w3c": {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "x": "y"},
                    }
                ),
            ),
            request("client-context-bad-JSON", {}, {"X-Amz-Client-Context": base64.b64encode(b"{not json").decode()}),
        ],
    ),
    # RIE does not forward the trace header: both runtimes see no _X_AMZN_TRACE_ID.
    "trace_env": Group(
        "zoo.trace_env", [request("trace-header", {}, {"X-Amzn-Trace-Id": "Root=1-5759e988-bd862e3fe1be46a994272793"})]
    ),
    "raise_value_error": Group("zoo.raise_value_error", [request("ValueError", {})]),
    "raise_custom": Group("zoo.raise_custom", [request("custom-with-newlines", {})]),
    "raise_chained": Group("zoo.raise_chained", [request("chained", {})]),
    "raise_no_message": Group("zoo.raise_no_message", [request("no-message", {})]),
    "raise_huge_message": Group("zoo.raise_huge_message", [request("300KB-message", {})]),
    "raise_nested": Group("zoo_extra.raise_nested", [request("frames-with-column-markers", {})]),
    "unserialisable": Group("zoo.unserialisable", [request("unserialisable", {})]),
    "circular": Group("zoo.circular", [request("circular", {})]),
    "logs": Group("zoo.logs", [request("first", {}), request("second", {})]),
    "logs_extra": Group("zoo_extra.logs_extra", [request("extra", {})]),
    "logs-json": Group("zoo.logs", [request("json", {})], JSON_LOGS),
    "logs_extra-json": Group("zoo_extra.logs_extra", [request("json", {})], JSON_LOGS),
    "raise_custom-json": Group("zoo.raise_custom", [request("json", {})], JSON_LOGS),
    "raise_chained-json": Group("zoo.raise_chained", [request("json", {})], JSON_LOGS),
    "unserialisable-json": Group("zoo.unserialisable", [request("json", {})], JSON_LOGS),
    "nested-slash": Group("pkg/sub/mod.handler", [request("pkg/sub/mod", {})]),
    "nested-dir": Group("dirmod/mod.handler", [request("dirmod/mod", {})]),
    "nested-dots": Group("pkg.sub.mod.handler", [request("pkg.sub.mod", {})]),
}

# Init failures: identical but for the LAMBDA_WARNING line (c).
INIT_ERRORS: dict[str, Group] = {
    # Two requests: RIE retries the init at the next invocation, with the same result.
    "syntax_error": Group("broken.syntax_error.handler", [request("first", {}), request("retried", {})]),
    "raises_at_import": Group("broken.raises_at_import.handler", [request("RuntimeError", {})]),
    "import_error": Group("broken.import_error.handler", [request("ImportModuleError", {})]),
    "no_handler": Group("broken.no_handler.handler", [request("HandlerNotFound", {})]),
    "no_handler-slash": Group("broken/no_handler.handler", [request("HandlerNotFound", {})]),
    "missing_module": Group("missing_module.handler", [request("ImportModuleError", {})]),
    "malformed": Group("nodot", [request("MalformedHandlerName", {})]),
    "builtin": Group("sys.handler", [request("BuiltInModuleConflict", {})]),
    "raises_at_import-json": Group("broken.raises_at_import.handler", [request("json", {})], JSON_LOGS),
    "syntax_error-json": Group("broken.syntax_error.handler", [request("json", {})], JSON_LOGS),
}

# Groups with a documented difference, each checked by its own test.
SPECIAL: dict[str, Group] = {
    "unicode_result": Group("zoo.unicode_result", [request("unicode", {})]),
    "raise_unicode": Group("zoo_extra.raise_unicode", [request("unicode-error", {})]),
    "raise_unicode-json": Group("zoo_extra.raise_unicode", [request("unicode-error", {})], JSON_LOGS),
    "raise_unprintable": Group("zoo.raise_unprintable", [request("first", {}), request("second", {})]),
    "system_exit": Group("zoo.system_exit", [request("first", {}), request("second", {})]),
    "exits_at_import": Group("broken.exits_at_import.handler", [request("exit-4", {})]),
    "too_large": Group("zoo.too_large", [request("first", {}), request("second", {})]),
    "client_context_odd": Group(
        "zoo.context_attrs",
        [
            request("not-an-object", {}, client_context([1, 2])),
            request("client-not-an-object", {}, client_context({"client": "x"})),
        ],
    ),
    "init-log-level-error": Group(
        "broken.no_handler.handler", [request("warning", {})], {"AWS_LAMBDA_LOG_LEVEL": "ERROR"}
    ),
}

_results: dict[str, dict[str, Run]] = {}


def results(name: str) -> dict[str, Run]:
    """Both runtimes' runs of a group, started on first use and shared by the group's tests."""
    if name not in _results:
        group = {**IDENTICAL, **INIT_ERRORS, **SPECIAL}[name]
        _results[name] = run_both(group.handler, group.requests, group.env)
    return _results[name]


def calls(name: str, index: int) -> tuple[Call, Call]:
    both = results(name)
    return both["awslambdaric"].calls[index], both["bootstrap"].calls[index]


def cases(groups: dict[str, Group]) -> list[Any]:
    return [
        pytest.param(name, index, id=f"{name}-{item.id}")
        for name, group in groups.items()
        for index, item in enumerate(group.requests)
    ]


def describe(ric: Call, ours: Call) -> str:
    return (
        f"\n--- awslambdaric: {ric.status} {ric.body[:2000]!r}\n{ric.raw[:6000]}"
        f"\n--- ours: {ours.status} {ours.body[:2000]!r}\n{ours.raw[:6000]}"
    )


def assert_equivalent(ric: Call, ours: Call) -> None:
    assert ours.status == ric.status, describe(ric, ours)
    assert ours.normal_body == ric.normal_body, describe(ric, ours)
    assert ours.log == ric.log, describe(ric, ours)


def assert_no_after_response_work(ours: Call) -> None:
    # (e): these handlers have no after-response work, so our runtime writes no summary line.
    assert ours.after_response_lines == 0, ours.raw


@pytest.mark.parametrize(("name", "index"), cases(IDENTICAL))
def test_identical(name: str, index: int) -> None:
    ric, ours = calls(name, index)
    assert_equivalent(ric, ours)
    assert_no_after_response_work(ours)
    assert ric.after_response_lines == 0


def test_identical_cases_show_what_they_claim() -> None:
    """A few spot checks that the shared cases exercise what their names say (so "identical" is not vacuous)."""
    ric, _ = calls("logs", 0)
    assert ric.log[:2] == ["printed line", "printed without newline"] and len(ric.log) == 10, ric.log
    assert "[ERROR]\t<timestamp>\t<request-id>\tcaught it" in ric.log and "stderr line" in ric.log
    ric, _ = calls("raise_chained", 0)
    assert ric.log[0].startswith("[ERROR] RuntimeError: outer\rTraceback (most recent call last):\r")
    ric, _ = calls("raw_event", 0)
    assert ric.json() == {"type": "str", "length": 3}
    ric, _ = calls("echo", 8)
    assert ric.json()["errorType"] == "Runtime.UnmarshalError"
    ric, _ = calls("trace_env", 0)
    assert ric.json() == {"trace": None}
    ric, _ = calls("echo", 6)
    assert ric.json() == _BIG_EVENT
    ric, _ = calls("large_result", 0)
    assert len(ric.body) > 1_000_000
    ric, _ = calls("float_specials", 0)
    assert ric.body == b'{"nan": NaN, "inf": Infinity, "ninf": -Infinity, "tiny": 1e-300}'
    ric, _ = calls("decimal_result", 0)
    assert ric.body == b'{"price": 19.990, "big": 1E+400, "nan": NaN}'
    ric, _ = calls("bytes_result", 0)
    assert ric.body == b"\x00\x01binary\xff"
    ric, _ = calls("context_attrs", 1)
    assert ric.json()["w3c"] == {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    ric, _ = calls("context_attrs", 2)
    assert ric.json()["errorType"] == "Runtime.LambdaContextUnmarshalError"
    # Python 3.11 would mark columns with ^^^^ under `_double(event) + 1`; awslambdaric's traces never have them.
    ric, _ = calls("raise_nested", 0)
    assert len(ric.json()["stackTrace"]) == 2
    assert not any("^" in frame for frame in ric.json()["stackTrace"])
    ric, _ = calls("logs-json", 0)
    records = [json.loads(line) for line in ric.log if line.startswith("{")]
    assert [r["level"] for r in records] == ["WARNING", "ERROR", "ERROR"]
    assert records[2]["errorType"] == "ValueError" and "location" in records[2]
    ric, _ = calls("logs_extra-json", 0)
    records = [json.loads(line) for line in ric.log if line.startswith("{")]
    assert records[0]["message"] == {"structured": True, "n": 1}
    # awslambdaric 4.x encodes with default=str: what JSON cannot hold is its str(), in a message or an extra.
    assert records[1]["message"] == {"object_in_a_dict_message": "a thing"}
    assert records[2]["thing"] == "a thing" and records[2]["things"] == ["a thing"]
    assert records[3]["order"] == {"id": 7} and records[3]["amount"] == "1.50"
    assert records[4]["message"] == "non-ASCII: héllo ✓ 日本語"


@pytest.mark.parametrize(("name", "index"), cases(INIT_ERRORS))
def test_init_error(name: str, index: int) -> None:
    """Init failures: same status and `/init/error` document; the same log but for the LAMBDA_WARNING line (c)."""
    ric, ours = calls(name, index)
    assert ric.status == 502, describe(ric, ours)
    json_logs = INIT_ERRORS[name].env == JSON_LOGS
    if json_logs:
        ric_warning, ric_rest = _split_json_warning(ric.log)
        our_warning, our_rest = _split_json_warning(ours.log)
        assert ric_warning == {
            "timestamp": "<timestamp>",
            "level": "WARNING",
            "message": RIC_WARNING,
            "logger": "root",
            "requestId": "",
        }
        assert our_warning["message"].startswith(WARNING_START) and len(our_warning["message"]) < len(RIC_WARNING)
        assert {**our_warning, "message": None} == {**ric_warning, "message": None}
    else:
        assert ric.log[0] == f"[WARNING]\t<timestamp>\t\t{RIC_WARNING}", describe(ric, ours)
        assert ours.log[0].startswith(f"[WARNING]\t<timestamp>\t\t{WARNING_START}"), describe(ric, ours)
        assert "\r" not in ours.log[0] and len(ours.log[0]) < len(ric.log[0])
        ric_rest, our_rest = ric.log[1:], ours.log[1:]
    assert ours.status == ric.status, describe(ric, ours)
    # (i) awslambdaric's trace of an exception raised at import starts with the frames of importlib.import_module
    # and the import machinery; ours (imported with __import__) has the user's frames only.
    ric_document = ric.json()
    machinery = [frame for frame in ric_document["stackTrace"] if _IMPORT_MACHINERY.search(frame)]
    assert bool(machinery) == name.startswith("raises_at_import"), machinery
    ric_document["stackTrace"] = [frame for frame in ric_document["stackTrace"] if frame not in machinery]
    assert ours.json() == ric_document, describe(ric, ours)
    assert ric_document["requestId"] == ""
    assert our_rest == [_without_import_machinery(line) for line in ric_rest], describe(ric, ours)
    assert_no_after_response_work(ours)


_IMPORT_MACHINERY = re.compile(r'File "(?:[^"]*/importlib/__init__\.py|<frozen importlib\._bootstrap[^"]*)"')


def _without_import_machinery(line: str) -> str:
    """A log line without the import machinery's frames: from a JSON record's stackTrace, or from a text record
    (frames joined with "\r", indented with no-break spaces)."""
    if "importlib" not in line:
        return line
    if line.startswith("{"):
        record = json.loads(line)
        record["stackTrace"] = [frame for frame in record["stackTrace"] if not _IMPORT_MACHINERY.search(frame)]
        return json.dumps(record, ensure_ascii=False)
    frame = (
        r'\r\u00a0\u00a0File "(?:[^"]*/importlib/__init__\.py|<frozen importlib\._bootstrap[^"]*)", line \d+, in \w+'
    )
    return re.sub(frame + r"(?:\r\u00a0{4}[^\r]*)?", "", line)


def _split_json_warning(log: list[str]) -> tuple[dict[str, Any], list[str]]:
    assert log and log[0].startswith("{"), log
    return json.loads(log[0]), log[1:]


def test_init_error_kinds() -> None:
    """Each init failure is reported with awslambdaric's error type (spot check that the cases reach their branch)."""
    expected = {
        "syntax_error": "Runtime.UserCodeSyntaxError",
        "raises_at_import": "RuntimeError",
        "import_error": "Runtime.ImportModuleError",
        "no_handler": "Runtime.HandlerNotFound",
        "no_handler-slash": "Runtime.HandlerNotFound",
        "missing_module": "Runtime.ImportModuleError",
        "malformed": "Runtime.MalformedHandlerName",
        "builtin": "Runtime.BuiltInModuleConflict",
    }
    for name, error_type in expected.items():
        for call in calls(name, 0):
            assert call.json()["errorType"] == error_type, call.raw


def test_init_exit_at_import() -> None:
    """(h) `sys.exit(4)` while importing the handler module.

    awslambdaric does not catch SystemExit there: the process exits with 4, no `/init/error` is posted, RIE answers
    502 with an empty body. Ours reports it as an init error like any other import failure (runtime/main.py, a
    project choice): the warning, the ERROR record, `/init/error` with type SystemExit, then exit code 1."""
    both = results("exits_at_import")
    ric, ours = calls("exits_at_import", 0)
    assert (ric.status, ric.body, ric.log) == (502, b"", []), ric.raw
    assert "exit status 4" in both["awslambdaric"].output
    assert ours.status == 502, ours.raw
    document = ours.json()
    assert {k: document[k] for k in ("errorMessage", "errorType", "requestId")} == {
        "errorMessage": "4",
        "errorType": "SystemExit",
        "requestId": "",
    }
    assert document["stackTrace"][-1].endswith('exits_at_import.py", line 3, in <module>\n    sys.exit(4)\n')
    assert ours.log[0].startswith(f"[WARNING]\t<timestamp>\t\t{WARNING_START}")
    assert ours.log[1].startswith("[ERROR] SystemExit: 4\rTraceback (most recent call last):\r")
    assert len(ours.log) == 2
    assert "exit status 1" in both["bootstrap"].output


def test_unicode_result() -> None:
    """(a) awslambdaric on provided.* escapes non-ASCII (`\\u00e9`); we send UTF-8. Same JSON value once parsed;
    parsed comparison because the two encodings of one string are legitimately different bytes."""
    ric, ours = calls("unicode_result", 0)
    assert ric.status == ours.status == 200
    assert ric.json() == ours.json() == {"greeting": "héllo wörld ✓ 🚀", "cjk": "日本語"}
    assert ric.body.isascii() and b"\\u00e9" in ric.body
    assert "héllo wörld ✓ 🚀".encode() in ours.body and b"\\u" not in ours.body
    ours.body.decode("utf-8")
    assert ours.log == ric.log == []


def test_unicode_error() -> None:
    """(a) for an error body: parsed equal, ours UTF-8. The text-format log line is the same on both sides."""
    ric, ours = calls("raise_unicode", 0)
    assert ric.status == ours.status == 200
    assert ric.json() == ours.json()
    assert ours.json()["errorMessage"] == "héllo ✓ 日本語 🚀"
    assert ric.body.isascii() and "héllo ✓ 日本語 🚀".encode() in ours.body
    assert ours.log == ric.log
    assert ours.log[0].startswith("[ERROR] ValueError: héllo ✓ 日本語 🚀\r")


def test_unicode_error_json_logs() -> None:
    """(a) in JSON log format: awslambdaric writes the unhandled-error record with its response encoder (escaped), we
    write UTF-8; the records are equal once parsed (parsed because \\uXXXX vs UTF-8 is the whole difference)."""
    ric, ours = calls("raise_unicode-json", 0)
    assert ric.json() == ours.json()
    assert len(ric.log) == len(ours.log) == 1
    assert json.loads(ric.log[0]) == json.loads(ours.log[0])
    assert ric.log[0].isascii() and "héllo ✓ 日本語 🚀" in ours.log[0]


def test_unprintable_exception() -> None:
    """(b) awslambdaric calls `str()` on the exception outside any try: the process dies, RIE answers 502
    Runtime.ExitError and restarts it for the next invocation. Ours reports a clean error and keeps serving."""
    both = results("raise_unprintable")
    for ric in both["awslambdaric"].calls:
        assert ric.status == 502, ric.raw
        assert ric.json()["errorType"] == "Runtime.ExitError"
        assert "exit status 1" in ric.json()["errorMessage"]
        assert "RuntimeError: no str for you" in ric.log
    assert both["awslambdaric"].output.count("INIT START") == 2
    for ours in both["bootstrap"].calls:
        assert ours.status == 200, ours.raw
        document = ours.json()
        assert document == {
            "errorMessage": "<exception str() failed: Unprintable>",
            "errorType": "Unprintable",
            "requestId": "<request-id>",
            "stackTrace": document["stackTrace"],
        }
        assert len(document["stackTrace"]) == 1 and "raise Unprintable()" in document["stackTrace"][0]
        assert ours.log[0].startswith("[ERROR] Unprintable: <exception str() failed: Unprintable>\r")
        assert len(ours.log) == 1
    assert both["bootstrap"].output.count("INIT START") == 1
    assert "exited" not in both["bootstrap"].output


def test_system_exit_in_handler() -> None:
    """(d) `sys.exit(3)` in the handler.

    awslambdaric: the SystemExit is not caught, the process exits with 3 before posting anything; RIE answers 502
    with its own Runtime.ExitError document and starts a fresh runtime for the next invocation.
    Ours: posts an error body of type SystemExit (logged like any unhandled error), logs that it exits, then exits
    with 3; RIE still answers 502 (the runtime exited before its next `/next`) but passes our body on.
    """
    both = results("system_exit")
    for ric in both["awslambdaric"].calls:
        assert ric.status == 502
        assert ric.json() == {
            "errorType": "Runtime.ExitError",
            "errorMessage": "RequestId: <request-id> Error: Runtime exited with error: exit status 3",
        }
        assert ric.log == []
    for ours in both["bootstrap"].calls:
        assert ours.status == 502, ours.raw
        document = ours.json()
        assert document["errorType"] == "SystemExit" and document["errorMessage"] == "3"
        assert document["requestId"] == "<request-id>"
        assert "sys.exit(3)" in document["stackTrace"][-1]
        assert ours.log[0].startswith("[ERROR] SystemExit: 3\rTraceback (most recent call last):\r")
        assert ours.log[1] == "[WARNING]\t<timestamp>\t\tthe handler called sys.exit(3): the runtime exits"
        assert len(ours.log) == 2
    for run in both.values():
        assert run.output.count("exit status 3") >= 2 and run.output.count("INIT START") == 2, run.output


def test_response_too_large() -> None:
    """(f) A result over 6 MiB: RAPID answers the runtime's `/response` with 413 and gives the caller
    Function.ResponseSizeTooLarge. The body the caller gets is the same (RAPID writes it), but:
    awslambdaric raises on the 413 and its process dies (so RIE answers 502 and re-inits for the next invocation);
    ours logs the 413 as an ERROR and goes on to `/next` (RIE answers 200, one init for both invocations).
    awslambdaric's crash is a bug (docs/platform.md §1.2: after a 413 the runtime still calls `/next`); we keep ours."""
    both = results("too_large")
    for ric, ours in zip(both["awslambdaric"].calls, both["bootstrap"].calls, strict=True):
        assert ours.normal_body == ric.normal_body, describe(ric, ours)
        assert ric.json()["errorType"] == "Function.ResponseSizeTooLarge"
        assert ric.status == 502 and ours.status == 200, describe(ric, ours)
        assert "RuntimeError: Failed to post invocation response" in ric.log
        assert len(ours.log) == 1 and ours.log[0].startswith("[ERROR]\t<timestamp>\t<request-id>\t"), ours.log
        assert "413" in ours.log[0] and "Function.ResponseSizeTooLarge" in ours.log[0]
    assert both["awslambdaric"].output.count("INIT START") == 2
    assert both["bootstrap"].output.count("INIT START") == 1
    assert "exited" not in both["bootstrap"].output


def test_client_context_not_an_object() -> None:
    """(g) A client context that is valid JSON but not an object, or whose `client` is not an object.

    awslambdaric fails inside its own `lambda_context.py` with an AttributeError (its frames in the stack trace).
    Ours: a non-object client context is Runtime.LambdaContextUnmarshalError, like invalid JSON (runtime/context.py);
    a `client` that is not an object becomes `client = None` and the handler runs."""
    both = results("client_context_odd")
    for ric in both["awslambdaric"].calls:
        assert ric.status == 200
        assert ric.json()["errorType"] == "AttributeError", ric.raw
        assert "awslambdaric/lambda_context.py" in ric.json()["stackTrace"][0]
    not_object, client_not_object = both["bootstrap"].calls
    assert not_object.status == 200
    assert not_object.json() == {
        "errorMessage": "Unable to parse Client Context JSON: expected an object, got list",
        "errorType": "Runtime.LambdaContextUnmarshalError",
        "requestId": "<request-id>",
        "stackTrace": [],
    }
    assert not_object.log == [
        "[ERROR] Runtime.LambdaContextUnmarshalError: Unable to parse Client Context JSON: expected an object, got list"
        "\rTraceback (most recent call last):"
    ]
    assert client_not_object.status == 200
    assert client_not_object.json()["client_context"] == {"custom": None, "env": None, "client": "None"}
    assert client_not_object.log == []


def test_init_warning_follows_the_log_level() -> None:
    """With AWS_LAMBDA_LOG_LEVEL=ERROR the root-logger LAMBDA_WARNING is filtered out on both sides."""
    ric, ours = calls("init-log-level-error", 0)
    assert (ours.status, ours.normal_body) == (ric.status, ric.normal_body)
    assert not any(WARNING_START in line for line in ric.log)
    assert ours.log == ric.log
    assert ric.log == [
        "[ERROR] Runtime.HandlerNotFound: Handler 'handler' missing on module 'broken.no_handler'"
        "\rTraceback (most recent call last):"
    ]


def test_extension_lines_are_rie_lines_only() -> None:
    """(e) Our internal extension shows up only in RIE's `(rapid)` lines, which are not function log lines."""
    both = results("logs")
    assert "Internal agent" not in both["awslambdaric"].output
    registered = [line for line in both["bootstrap"].rie_lines() if "Internal agent" in line]
    assert len(registered) == 1 and "after-response-runtime" in registered[0], both["bootstrap"].output
    assert not any("Internal agent" in line for call in both["bootstrap"].calls for line in call.log)
