"""The loop in-process, as it runs in Lambda, against the emulator's Runtime API server on loopback: the first n of
`api.invocations()`, order and causality from the server's timestamps. Fast where tests/e2e starts a process per
test."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from emulator.server import LambdaApiServer
from runtime.api import RuntimeApi
from runtime.context import FunctionInfo
from runtime.current import Lifetime
from runtime.hooks import Registry, Task, defer
from runtime.invocation import Invocation
from runtime.loop import Loop
from runtime.phase import PhaseRunner


@pytest.fixture
def server() -> Iterator[LambdaApiServer]:
    with LambdaApiServer(timeout_s=30) as api:
        yield api


class Harness:
    def __init__(self, server: LambdaApiServer) -> None:
        self.server = server
        self.registry = Registry()
        self.seen: list[tuple[str, float, Invocation]] = []
        self.api = RuntimeApi(server.address)

    def hook(self, name: str) -> None:
        def record(invocation: Invocation) -> None:
            self.seen.append((name, time.monotonic(), invocation))

        self.registry.hooks.append(Task(record, name=name, is_hook=True))

    def serve(self, handler: Any, *events: object) -> list[str]:
        runner = PhaseRunner(self.registry, Lifetime(1000), margin_ms=200)
        ids = [self.server.submit(json.dumps(event).encode(), {"Content-Type": "application/json"}) for event in events]
        try:
            loop = Loop(self.api, handler, runner, FunctionInfo("f", "$LATEST"))
            loop.serve(itertools.islice(self.api.invocations(), len(events)))
        finally:
            runner.close()
        return ids


@pytest.fixture
def harness(server: LambdaApiServer) -> Iterator[Harness]:
    harness = Harness(server)
    yield harness
    harness.api.close()


def test_the_result_is_posted_then_the_hooks_run_with_the_invocation(harness: Harness) -> None:
    harness.hook("after")
    [request_id] = harness.serve(lambda event, context: {"echo": event, "id": context.aws_request_id}, {"a": 1})
    result = harness.server.result(request_id)
    assert result.kind == "response" and result.json() == {"echo": {"a": 1}, "id": request_id}
    [(name, at, invocation)] = harness.seen
    assert name == "after" and at >= result.at
    assert (invocation.request_id, invocation.event, invocation.result) == (request_id, {"a": 1}, result.json())
    assert invocation.succeeded and invocation.delivered and invocation.request.content_type == "application/json"


def test_an_error_is_posted_and_the_hooks_see_it(harness: Harness) -> None:
    harness.hook("after")

    def fails(event: Any, context: Any) -> Any:
        raise ValueError("nope")

    [request_id] = harness.serve(fails, {})
    result = harness.server.result(request_id)
    assert result.kind == "error" and result.json()["errorType"] == "ValueError"
    assert result.headers["lambda-runtime-function-error-type"] == "Function.ValueError"
    invocation = harness.seen[0][2]
    assert isinstance(invocation.error, ValueError) and not invocation.succeeded and invocation.delivered


def test_deferred_work_runs_after_the_response_in_order(harness: Harness) -> None:
    ran: list[tuple[str, float]] = []

    def handler(event: Any, context: Any) -> Any:
        for name in event["names"]:
            defer(lambda name=name: ran.append((name, time.monotonic())))
        return "ok"

    [request_id] = harness.serve(handler, {"names": ["a", "b", "c"]})
    assert [name for name, _ in ran] == ["a", "b", "c"]
    assert ran[0][1] >= harness.server.result(request_id).at


def test_sys_exit_in_the_handler_is_reported_then_the_phase_runs_then_the_loop_exits(harness: Harness) -> None:
    harness.hook("after")

    def exits(event: Any, context: Any) -> Any:
        raise SystemExit(4)

    with pytest.raises(SystemExit) as raised:
        harness.serve(exits, {})
    assert raised.value.code == 4
    assert harness.server.find("/error")[0].status == 202
    assert [name for name, _, _ in harness.seen] == ["after"]


def test_a_refused_response_is_not_delivered_and_the_next_invocation_is_served(harness: Harness) -> None:
    harness.hook("after")
    harness.server.interceptor = lambda r: (
        (413, {}, b"{}") if r.path.endswith("/response") and not harness.seen else None
    )
    harness.serve(lambda event, context: "x", {}, {})
    assert [invocation.delivered for _, _, invocation in harness.seen] == [False, True]
