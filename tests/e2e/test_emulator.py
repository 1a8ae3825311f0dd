"""The local emulator: Lambda's timing, timeouts that reset the environment, init errors, the invoke endpoint."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from emulator.environment import Emulator
from emulator.server import Result
from emulator.timeline import Timeline
from tests.support import FUNCTIONS


@pytest.fixture
def lines() -> list[str]:
    """What the runtime printed, line by line."""
    return []


@pytest.fixture
def emulator(request: pytest.FixtureRequest, lines: list[str]) -> Iterator[Emulator]:
    options = getattr(request, "param", {})
    with Emulator(
        options.get("handler", "phase.handler"),
        FUNCTIONS,
        timeout_s=options.get("timeout", 3.0),
        log=lines.append,
        env=options.get("env"),
        init_limit_s=options.get("init_limit", 10.0),
    ) as emu:
        yield emu
    print("".join(lines))


def test_the_caller_gets_the_response_before_a_300_ms_hook_ends(emulator: Emulator) -> None:
    results: list[Result] = []
    result, timeline = emulator.invoke(b'{"hook_sleep": 0.3}', on_result=results.append)
    first_end = emulator.server.marks("first-end")[0]
    assert results == [result] and result.kind == "response"
    # Causality on one clock: the caller had its result before the hook finished; the invocation ended after it.
    assert result.at < first_end.at
    assert timeline.response_ms is not None and timeline.next_ms is not None
    assert timeline.next_ms - timeline.response_ms >= 300
    assert [hook.name for hook in timeline.hooks][:2] == ["phase.first", "phase.second"]
    assert "invocation ends" in timeline.render()


class ObservedLock:
    """The emulator's lock, which says when a caller found it held (and so waits for the invocation holding it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.contended = threading.Event()

    def acquire(self, blocking: bool = True) -> bool:
        if self._lock.acquire(blocking=False):
            return True
        self.contended.set()
        return self._lock.acquire() if blocking else False

    def release(self) -> None:
        self._lock.release()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


@pytest.mark.parametrize("emulator", [{"handler": "emulator_queue.handler"}], indirect=True)
def test_a_request_queued_behind_the_previous_phase_shows_the_queueing(emulator: Emulator, tmp_path: Path) -> None:
    """`serve` prints `summary()` for each request: one that arrives during the previous invocation's after-response
    phase waits for it, and its line must say so (it said "caller waited 1.2 ms" after 350 ms in the queue)."""
    emulator.invoke(b"{}")  # warm: the second request queues behind a phase, not behind an init
    lock = emulator._lock = ObservedLock()  # type: ignore[assignment]
    release = tmp_path / "release"
    first = threading.Thread(target=emulator.invoke, args=(json.dumps({"hold_until": str(release)}).encode(),))
    first.start()
    emulator.server.wait_for(lambda: bool(emulator.server.marks("hold-start")))
    second: list[tuple[Result, Timeline]] = []
    waiting = threading.Thread(target=lambda: second.append(emulator.invoke(b"{}")))
    waiting.start()
    assert lock.contended.wait(10)  # the second request waits for the first invocation's phase
    release.touch()
    first.join(10)
    waiting.join(10)
    [(result, timeline)] = second
    assert result.kind == "response"
    [hold_end] = emulator.server.marks("hold-end")
    assert hold_end.at < emulator.server.timing(timeline.request_id).submitted_at
    summary = timeline.summary()
    waited = re.search(r"caller waited ([\d.]+) ms: queued ([\d.]+) ms behind the previous invocation", summary)
    assert waited is not None, summary
    assert 0 < float(waited[2]) < float(waited[1])
    assert "(it was queued)" in timeline.render()
    # A request that finds the environment free has no queue to show.
    _, alone = emulator.invoke(b"{}")
    assert alone.queued_ms is None and "queued" not in alone.summary()


@pytest.mark.parametrize("emulator", [{"handler": "slow.handler", "timeout": 1.0}], indirect=True)
def test_a_timeout_in_the_phase_keeps_the_response_and_forces_a_cold_start(emulator: Emulator) -> None:
    result, timeline = emulator.invoke(b'{"hook_sleep": 3}')
    assert result.kind == "response"
    first_pid = result.json()["pid"]
    assert timeline.next_ms is None  # the runtime never called /next: the environment was reset
    result, timeline = emulator.invoke(b"{}")
    assert result.kind == "response" and timeline.cold_start
    assert result.json()["pid"] != first_pid


@pytest.mark.parametrize("emulator", [{"handler": "slow.handler", "timeout": 1.0}], indirect=True)
def test_a_handler_past_the_deadline_times_out_and_the_next_invoke_cold_starts(emulator: Emulator) -> None:
    result, _ = emulator.invoke(b'{"handler_sleep": 3}')
    assert result.kind == "timeout"
    assert result.json()["errorType"] == "Sandbox.Timedout"
    assert result.json()["errorMessage"].endswith("Error: Task timed out after 1.00 seconds")
    result, timeline = emulator.invoke(b"{}")
    assert result.kind == "response" and timeline.cold_start


@pytest.mark.parametrize("emulator", [{"handler": "broken/raises_at_import.handler"}], indirect=True)
def test_an_init_error_reaches_the_caller_and_init_is_retried(emulator: Emulator) -> None:
    for _ in range(2):
        result, timeline = emulator.invoke(b"{}")
        assert result.kind == "init_error"
        assert result.json()["errorType"] == "RuntimeError"
        assert timeline.cold_start
    assert len(emulator.server.find("/init/error")) == 2  # each invoke ran init again in a fresh environment


@pytest.mark.parametrize(
    "emulator", [{"handler": "slow.handler", "env": {"SLOW_INIT_S": "1.5"}, "init_limit": 0.5, "timeout": 3.0}],
    indirect=True,
)  # fmt: skip
def test_a_slow_init_is_retried_within_the_function_timeout(emulator: Emulator, lines: list[str]) -> None:
    result, _ = emulator.invoke(b"{}")
    assert result.kind == "response"
    assert any("init took over" in line for line in lines)


@pytest.mark.parametrize("emulator", [{"handler": "zoo.system_exit"}], indirect=True)
def test_a_runtime_that_exits_gives_an_exit_error_next_time(emulator: Emulator) -> None:
    result, _ = emulator.invoke(b"{}")
    assert result.json()["errorType"] == "SystemExit"
    result, timeline = emulator.invoke(b"{}")
    assert timeline.cold_start and result.json()["errorType"] == "SystemExit"


def test_stopping_the_emulator_sends_sigterm_and_runs_shutdown_hooks(emulator: Emulator) -> None:
    emulator.invoke(b"{}")
    emulator.stop_environment()
    assert emulator.server.marks("shutdown-hook")


def test_the_environment_lambda_gives(tmp_path: Path) -> None:
    (tmp_path / "env_app.py").write_text(
        "import os\ndef handler(event, context):\n    return {k: v for k, v in os.environ.items()}\n"
    )
    with Emulator("env_app.handler", tmp_path, memory_mb=256, log_format="JSON", log=lambda _: None) as emulator:
        env = json.loads(emulator.invoke(b"{}")[0].body)
    assert env["_HANDLER"] == "env_app.handler"
    assert env["LAMBDA_TASK_ROOT"] == str(tmp_path.resolve())
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_LAMBDA_LOG_FORMAT"] == "JSON"
    assert env["AWS_LAMBDA_RUNTIME_API"].startswith("127.0.0.1:")
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/function"
    assert "_LAMBDA_TELEMETRY_LOG_FD" not in env


@pytest.mark.parametrize("function_name", [None, "orders-api"])
def test_the_function_name_and_the_invoked_arn_agree(tmp_path: Path, function_name: str | None) -> None:
    # Through the real bootstrap: the context the handler gets has the name of AWS_LAMBDA_FUNCTION_NAME, and the ARN
    # /next hands over names the same function, in the region of AWS_REGION.
    (tmp_path / "names.py").write_text(
        "def handler(event, context):\n    return [context.function_name, context.invoked_function_arn]\n"
    )
    options: dict[str, Any] = {"function_name": function_name} if function_name else {}  # None: the default
    with Emulator("names.handler", tmp_path, env={"AWS_REGION": "eu-west-1"}, log=lambda _: None, **options) as emu:
        name, arn = json.loads(emu.invoke(b"{}")[0].body)
    assert name == (function_name or "function")
    assert arn == f"arn:aws:lambda:eu-west-1:012345678912:function:{name}"
    assert arn.rsplit(":", 1)[1] == name
