"""Start-up with values the runtime cannot use as they are, through the real bootstrap: an extension name that cannot
go in an HTTP header, and a telemetry fd that cannot be written to."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emulator.server import LambdaApiServer
from tests.conftest import StartRuntime
from tests.support import BOOTSTRAP, ROOT, Process, base_env

RUNTIME_FRAMES = str(ROOT / "runtime")


@pytest.mark.parametrize("name", ["ext\r\nX-Injected: 1", "ext\x7f", "\u540d\u524d", "\u00e9t\u00e9"])
def test_an_extension_name_that_cannot_be_an_http_header_is_an_init_error(
    api: LambdaApiServer, start: StartRuntime, name: str
) -> None:
    """CR/LF would end the Lambda-Extension-Name header early (a header of the caller's choosing after it); a character
    beyond ASCII would reach Lambda as Latin-1 bytes (or '?'), never the name that was set."""
    process = start("startup_logs.handler", {"RUNTIME_EXTENSION_NAME": name})
    assert process.wait(10) == 1
    error = api.init_error()
    assert error is not None and error.json()["errorType"] == "Runtime.ConfigInvalid"
    assert error.json()["errorMessage"] == (
        f"Invalid configuration: RUNTIME_EXTENSION_NAME must be printable ASCII (it is sent in an HTTP header), "
        f"not {name!r}"
    )
    assert not api.find("/extension/register")
    assert RUNTIME_FRAMES not in process.output()


def _with_fd_7(redirection: str, env: dict[str, str], api: LambdaApiServer) -> Process:
    """The bootstrap with fd 7 opened by the shell (`7</dev/null`: read-only) and named as the telemetry fd."""
    command = ["/bin/sh", "-c", f'exec "$0" "$@" {redirection}', str(BOOTSTRAP), "startup_logs.handler"]
    return Process(command, base_env({"AWS_LAMBDA_RUNTIME_API": api.address, "_LAMBDA_TELEMETRY_LOG_FD": "7", **env}))


WARNING = "_LAMBDA_TELEMETRY_LOG_FD: fd {fd} cannot be written to ({reason}): logs go to stdout, unframed"


@pytest.mark.parametrize(
    ("redirection", "reason"),
    [
        ("", "Bad file descriptor"),  # fd 7 not open
        ("7</dev/null", "Bad file descriptor"),  # open for reading only: fails at the first record
        ("7</", "Is a directory"),
    ],
)
def test_a_telemetry_fd_that_cannot_be_written_to_sends_logs_to_stdout_with_one_warning(
    api: LambdaApiServer, redirection: str, reason: str
) -> None:
    """The fd is the platform's, not the function's: the function runs, its records go to stdout (which Lambda sends
    to CloudWatch too), and one warning says why, where awslambdaric stops with a traceback."""
    process = _with_fd_7(redirection, {}, api)
    try:
        assert api.invoke(b"{}").json() == "logged"
        failed = api.invoke(b'{"fail": true}')
        assert failed.kind == "error" and failed.json()["errorType"] == "ValueError"
        output = process.wait_output("[ERROR] ValueError: failed on purpose")
        warnings = [line for line in output.splitlines() if "_LAMBDA_TELEMETRY_LOG_FD" in line]
        assert len(warnings) == 1 and warnings[0].startswith("[WARNING]"), output
        assert warnings[0].endswith(WARNING.format(fd=7, reason=reason))
        assert output.count("a record from the handler") == 2 and "a printed line" in output
        assert RUNTIME_FRAMES not in output and "Logging error" not in output
    finally:
        process.stop()


def test_the_warning_about_the_telemetry_fd_follows_the_log_format(api: LambdaApiServer) -> None:
    process = _with_fd_7("", {"AWS_LAMBDA_LOG_FORMAT": "JSON"}, api)
    try:
        assert api.invoke(b"{}").json() == "logged"
        output = process.wait_output("a record from the handler")
        records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
        [warning] = [record for record in records if "_LAMBDA_TELEMETRY_LOG_FD" in record["message"]]
        assert warning["level"] == "WARNING" and warning["logger"] == "runtime"
        assert warning["message"] == WARNING.format(fd=7, reason="Bad file descriptor")
    finally:
        process.stop()


def test_a_writable_telemetry_fd_still_gets_every_record_framed(api: LambdaApiServer, tmp_path: Path) -> None:
    """The control of the tests above: a usable fd takes the records, in frames, and nothing is said about it."""
    framed = tmp_path / "frames"
    process = _with_fd_7(f"7>{framed}", {}, api)
    try:
        assert api.invoke(b"{}").json() == "logged"
        process.wait_output("a printed line")
        output = process.output()
        assert "_LAMBDA_TELEMETRY_LOG_FD" not in output and "a record from the handler" not in output
        data = framed.read_bytes()
        assert data[:2] == b"\xa5\x5a" and b"a record from the handler" in data
    finally:
        process.stop()
