"""Our bootstrap under the real AWS Runtime Interface Emulator (RIE): invocations, the internal extension, the
after-response phase, and what RIE's invoke port can and cannot tell about response timing."""

from __future__ import annotations

import json
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.rie import RIE_LINE, function_lines
from tests.support import Rie, rie

pytestmark = pytest.mark.rie

# RIE logs each extension registration: `Internal agent <name> (<uuid>) registered, subscribed to [<events>]`.
AGENT_REGISTERED = re.compile(r"\(rapid\) Internal agent (\S+) \(([0-9a-f-]{36})\) registered, subscribed to \[(.*)\]")
EVENTS = [{}, {"a": 1}, [1, 2, 3], "text", None, 42, {"nested": {"list": [{"x": True}]}}, "héllo ✓"]


@pytest.fixture(scope="module")
def echo() -> Iterator[Rie]:
    with rie("zoo.echo") as emulator:
        yield emulator


@pytest.fixture(scope="module")
def hooks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Rie, Path]]:
    """RIE serving tests/functions/rie_hooks.py, whose deferred task and hook append lines to `path`."""
    path = tmp_path_factory.mktemp("rie-hooks") / "hooks.log"
    path.touch()
    with rie("rie_hooks.handler", env={"RIE_HOOKS_FILE": str(path)}) as emulator:
        yield emulator, path


def hook_lines(path: Path) -> list[tuple[str, str, float]]:
    """(kind, request id, time.time()) of each line rie_hooks.py wrote."""
    return [(kind, rid, float(at)) for kind, rid, at in (line.split() for line in path.read_text().splitlines())]


def rapid_problems(output: str) -> list[str]:
    """RIE's ERROR/WARN lines, and anything that looks like a Go panic."""
    return [
        line
        for line in output.splitlines()
        if re.search(r"\[(?:ERROR|WARN|WARNING|FATAL|PANIC)\] \(rapid\)", line)
        or "panic" in line
        or "goroutine " in line
    ]


def test_invocations_complete(echo: Rie) -> None:
    for event in EVENTS * 3:
        status, body = echo.invoke(json.dumps(event).encode())
        assert status == 200, echo.process.output()
        assert json.loads(body) == event
    output = echo.process.output()
    # One init for all invocations, each one finished with success on RIE's side.
    assert output.count("INIT START") == 1, output
    assert output.count("INVOKE RTDONE(status: success") >= len(EVENTS) * 3, output


def test_internal_extension_registers(echo: Rie) -> None:
    """Our runtime registers its internal extension before its first `/next` (after it RIE would answer 403
    RegistrationClosed and the runtime would log `registration failed`); RIE logs the registration under our name."""
    echo.invoke({"ensure": "initialised"})
    output = echo.process.output()
    registered = [m.groups() for line in output.splitlines() if (m := AGENT_REGISTERED.search(line))]
    assert len(registered) == 1, output
    name, _, events = registered[0]
    assert (name, events) == ("after-response-runtime", "")  # no events: nothing for RIE to wait for per invoke
    assert "registration failed" not in output
    assert "RegistrationClosed" not in output
    assert "internal extension:" not in output  # none of the extension thread's warnings


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        pytest.param({"RUNTIME_EXTENSION_NAME": "my-runtime-ext"}, ["my-runtime-ext"], id="custom-name"),
        pytest.param({"RUNTIME_EXTENSION": "off"}, [], id="disabled"),
    ],
)
def test_registered_extension_is_ours(env: dict[str, str], expected: list[str]) -> None:
    """The agent RIE reports is the one our runtime registers: it follows RUNTIME_EXTENSION_NAME, and is gone with
    RUNTIME_EXTENSION=off; invocations work either way."""
    with rie("zoo.echo", env=env) as emulator:
        assert emulator.invoke({"x": 1}) == (200, b'{"x": 1}')
        output = emulator.process.output()
    names = [m.group(1) for line in output.splitlines() if (m := AGENT_REGISTERED.search(line))]
    assert names == expected, output
    assert "registration failed" not in output
    assert rapid_problems(output) == []


def test_after_response_work_runs_once_per_invocation(hooks: tuple[Rie, Path]) -> None:
    """Each invocation runs its deferred task, then the `@after_response` hook, exactly once; our runtime writes one
    `after-response:` summary line for each (the phase had work)."""
    emulator, path = hooks
    start = len(emulator.process.output())
    request_ids = []
    for i in range(6):
        status, body = emulator.invoke({"n": i})
        assert status == 200, emulator.process.output()
        request_ids.append(json.loads(body)["request_id"])
    assert len(set(request_ids)) == 6
    lines = [line for line in hook_lines(path) if line[1] in request_ids]
    assert len(lines) == 2 * len(request_ids), path.read_text()
    for request_id in request_ids:
        kinds = [kind for kind, rid, _ in lines if rid == request_id]
        assert kinds == ["deferred", "hook"], (request_id, path.read_text())
    # Invocations do not overlap: every line of one invocation comes before the next invocation's.
    assert [rid for _, rid, _ in lines] == [rid for rid in request_ids for _ in range(2)]
    output = emulator.process.output()[start:]
    summaries = [line for line in output.splitlines() if "\tafter-response: " in line]
    assert len(summaries) == len(request_ids), output
    for request_id, summary in zip(request_ids, summaries, strict=True):
        assert summary.startswith("[INFO]\t") and f"\t{request_id}\tafter-response: 2 ran, 0 failed" in summary
    log, dropped = function_lines(output)
    assert dropped == len(request_ids) and log == [], output


def test_after_response_summary_in_json_format(tmp_path: Path) -> None:
    """With AWS_LAMBDA_LOG_FORMAT=JSON the summary is one JSON record per invocation (level INFO, our "runtime"
    logger, the invocation's request id, an `afterResponse` object), and the differential tests' filter drops it."""
    path = tmp_path / "hooks.log"
    with rie("rie_hooks.handler", env={"RIE_HOOKS_FILE": str(path), "AWS_LAMBDA_LOG_FORMAT": "JSON"}) as emulator:
        request_ids = []
        for _ in range(2):
            status, body = emulator.invoke({})
            assert status == 200
            request_ids.append(json.loads(body)["request_id"])
        output = emulator.process.output()
    records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    summaries = [r for r in records if str(r.get("message", "")).startswith("after-response: ")]
    assert [r["requestId"] for r in summaries] == request_ids, output
    for record in summaries:
        assert (record["level"], record["logger"]) == ("INFO", "runtime")
        assert record["afterResponse"]["ran"] == 2 and record["afterResponse"]["failed"] == 0
        assert [item["outcome"] for item in record["afterResponse"]["items"]] == ["ok", "ok"]
    log, dropped = function_lines(output)
    assert dropped == 2 and log == [], output
    lines = hook_lines(path)
    # Two lines per invocation; the environment's stop (SIGTERM) adds the shutdown hook's, last.
    assert [kind for kind, _, _ in lines if kind != "shutdown"] == ["deferred", "hook"] * 2
    assert all(kind != "shutdown" for kind, _, _ in lines[:-1])


def test_rie_replies_only_after_next(hooks: tuple[Rie, Path]) -> None:
    """RIE (classic mode) holds its HTTP reply until the runtime calls `/next` again (docs/platform.md §2.2): its
    invoke handler waits for the whole invoke, i.e. for the runtime's next `/next` and every extension's, before
    writing the body it already has. Production Lambda answers the caller when the runtime posts `/response`.

    So at RIE's invoke port, after-response work looks like response latency: here a hook sleeps 0.3 s and then,
    as its very last act, records `time.time()`; the reply reaches the test no earlier than that moment (a causal
    check on one clock, no timing bound). This is why the project asserts response timing at the Runtime API
    (its own fake/emulator, which sees when `/response` is posted), never at RIE's invoke port.
    """
    emulator, path = hooks
    sent = time.time()
    status, body = emulator.invoke({"sleep": 0.3})
    replied = time.time()
    assert status == 200
    request_id = json.loads(body)["request_id"]
    (recorded,) = [at for kind, rid, at in hook_lines(path) if kind == "hook" and rid == request_id]
    assert recorded - sent >= 0.3  # the hook did sleep within this invocation
    assert replied >= recorded


def test_no_rie_errors_for_normal_invocations(echo: Rie, hooks: tuple[Rie, Path]) -> None:
    """Normal invocations (successes, with or without after-response work, and a function error) leave no ERROR,
    WARN or panic line from RIE, and our runtime logs no error of its own."""
    with rie("zoo.raise_value_error") as failing:
        for _ in range(3):
            status, body = failing.invoke({})
            assert status == 200 and json.loads(body)["errorType"] == "ValueError"
        failing_output = failing.process.output()
    echo.invoke({"last": True})
    hooks[0].invoke({"last": True})
    for output in (echo.process.output(), hooks[0].process.output(), failing_output):
        assert rapid_problems(output) == [], output
        assert output.count("INIT START") == 1, output
        runtime_lines = [line for line in output.splitlines() if not RIE_LINE.search(line)]
        # Only the function's own unhandled errors ("[ERROR] ValueError: ...") may say ERROR.
        assert [
            line for line in runtime_lines if "ERROR" in line and not line.startswith("[ERROR] ValueError: bad value")
        ] == []


@pytest.mark.parametrize("extension", ["on", "off"])
def test_rie_sends_sigterm_at_shutdown_to_a_runtime_whose_extension_has_no_events(
    tmp_path: Path, extension: str
) -> None:
    """The extension registers for no events (docs/design.md, "The internal extension"), yet RAPID sends SIGTERM to
    the runtime when it shuts the environment down, because an extension is registered (platform §3.4): here RIE is
    stopped, and the runtime's @on_shutdown hook runs. The control: without the extension, RAPID kills the runtime
    at once and the hook never runs."""
    path = tmp_path / "hooks.log"
    path.touch()
    env = {"RIE_HOOKS_FILE": str(path), "RUNTIME_EXTENSION": extension}
    with rie("rie_hooks.handler", env=env) as emulator:
        status, _ = emulator.invoke({})
        assert status == 200
        emulator.process.popen.send_signal(signal.SIGTERM)
        emulator.process.wait(15)
        output = emulator.process.output()
    expected = ["deferred", "hook", "shutdown"] if extension == "on" else ["deferred", "hook"]
    assert [kind for kind, _, _ in hook_lines(path)] == expected, output
