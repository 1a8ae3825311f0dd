"""runtime.testing: a handler and its after-response work in a unit test, with the real phase's rules."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from runtime import DeferError, Invocation, after_response, aio, defer, hooks, on_init
from runtime.errors import MarshalError
from runtime.testing import invoke


def short_name(name: str) -> str:
    """`module.function.<locals>.name` → `name`."""
    return name.rsplit(".", 1)[-1]


def short(names: list[str]) -> list[str]:
    return [short_name(name) for name in names]


@pytest.fixture(autouse=True)
def own_hooks() -> Iterator[list[str]]:
    """The global registry as it was, after each test, its init not run; and a record of what ran."""
    saved, saved_init, initialised = list(hooks.registry.hooks), list(hooks.registry.init), hooks.registry.initialised
    hooks.registry.initialised = False
    ran: list[str] = []
    yield ran
    hooks.registry.hooks[:] = saved
    hooks.registry.init[:] = saved_init
    hooks.registry.initialised = initialised
    aio.close()


def test_the_result_the_deferred_work_and_the_hooks_before_and_after_the_phase(own_hooks: list[str]) -> None:
    ran = own_hooks

    def send(order: str) -> None:
        ran.append(f"send {order}")
        defer(ran.append, "deferred during the phase")

    @after_response
    def flush(invocation: Invocation) -> None:
        ran.append(f"flush {invocation.result['status']}")

    @after_response(when="error")
    def alert(invocation: Invocation) -> None:
        ran.append("alert")

    def handler(event: dict[str, str], context: Any) -> dict[str, str]:
        defer(send, event["order"])
        assert context.get_remaining_time_in_millis() > 2000
        return {"status": "accepted"}

    outcome = invoke(handler, {"order": "o-1"})
    assert (outcome.result, outcome.error, outcome.body) == ({"status": "accepted"}, None, b'{"status": "accepted"}')
    assert short(outcome.deferred) == ["send"]
    assert short(outcome.hooks) == ["flush"]
    assert ran == []  # nothing ran yet: the caller would have its response now
    report = outcome.run_after_response()
    assert [(short_name(name), result) for name, result in report] == [
        ("send", "ok"),
        ("append", "ok"),
        ("flush", "ok"),
    ]
    assert ran == ["send o-1", "deferred during the phase", "flush accepted"]
    with pytest.raises(RuntimeError, match="once"):
        outcome.run_after_response()


def test_defer_outside_an_invocation_still_raises() -> None:
    # In a plain unit test the error says what to do there.
    with pytest.raises(DeferError, match="no invocation is open") as refused:
        defer(print)
    assert "in a unit test, call the handler through runtime.testing.invoke()" in str(refused.value)
    invoke(lambda event, context: defer(print))
    with pytest.raises(DeferError, match="no invocation is open"):
        defer(print)  # the invocation's scope closed with its handler


def test_init_hooks_run_once_before_the_first_invoke_async_ones_on_the_handlers_loop(own_hooks: list[str]) -> None:
    clients: dict[str, asyncio.AbstractEventLoop] = {}

    @on_init
    def configure() -> None:
        own_hooks.append("configure")

    @on_init
    async def connect() -> None:
        with pytest.raises(DeferError):  # no invocation is open at init
            defer(print)
        clients["db"] = asyncio.get_running_loop()
        own_hooks.append("connect")

    assert own_hooks == []  # registered, not run: init is the first invoke()

    async def handler(event: Any, context: Any) -> bool:
        return asyncio.get_running_loop() is clients["db"]

    assert invoke(handler).result is True
    assert invoke(handler).result is True
    assert own_hooks == ["configure", "connect"]  # once each, in registration order

    @on_init
    def late() -> None:
        own_hooks.append("late")

    assert own_hooks[-1] == "late"  # registered after init: it runs at once


def test_an_init_hook_that_raises_fails_invoke_and_runs_again_at_the_next_call(own_hooks: list[str]) -> None:
    attempts: list[int] = []

    @on_init
    def connect() -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("the database is unreachable")

    with pytest.raises(ConnectionError, match="unreachable"):
        invoke(lambda event, context: "ok")
    assert invoke(lambda event, context: "ok").result == "ok"
    assert len(attempts) == 2


def test_an_error_is_the_outcome_not_raised_and_the_error_hooks_run(own_hooks: list[str]) -> None:
    @after_response(when="error")
    def alert(invocation: Invocation) -> None:
        own_hooks.append(type(invocation.error).__name__)

    def handler(event: Any, context: Any) -> None:
        raise KeyError("missing")

    outcome = invoke(handler)
    assert isinstance(outcome.error, KeyError) and outcome.body is None
    assert short(outcome.hooks) == ["alert"]
    outcome.run_after_response()
    assert own_hooks == ["KeyError"]
    unserialisable = invoke(lambda event, context: {"when": object()})
    assert isinstance(unserialisable.error, MarshalError)


def test_async_handlers_and_deferred_coroutines_share_the_loop(own_hooks: list[str]) -> None:
    async def later(loop: asyncio.AbstractEventLoop) -> None:
        assert asyncio.get_running_loop() is loop
        own_hooks.append("later")

    async def handler(event: Any, context: Any) -> str:
        defer(later(asyncio.get_running_loop()))
        return "ok"

    outcome = invoke(handler)
    assert outcome.result == "ok"
    assert [(short_name(name), result) for name, result in outcome.run_after_response()] == [("later", "ok")]
    assert own_hooks == ["later"]


def test_failing_and_overdue_work_is_reported_as_the_phase_reports_it() -> None:
    def fails() -> None:
        raise ValueError("no")

    def handler(event: Any, context: Any) -> None:
        defer(fails)

    assert [(short_name(name), result) for name, result in invoke(handler).run_after_response()] == [
        ("fails", "failed")
    ]
    # With 100 ms to the deadline and 200 ms kept free before it, there is no time left: skipped, by name.
    assert [result for _, result in invoke(handler, timeout_ms=100).run_after_response()] == ["skipped"]


# Streams: the helper runs the handler step the runtime runs (issue 21 item 8) -------------------------------------


def test_a_generator_handler_streams_its_bytes_and_the_hooks_see_what_went_out(own_hooks: list[str]) -> None:
    def handler(event: Any, context: Any) -> Iterator[bytes | str]:
        defer(own_hooks.append, "after the stream")
        yield b"one "
        yield "two"

    outcome = invoke(handler, {})
    assert outcome.error is None and outcome.body == b"one two"
    streamed = outcome.invocation.streamed
    assert streamed is not None and (streamed.chunks, streamed.bytes_sent, streamed.complete) == (2, 7, True)
    assert short(outcome.deferred) == ["append"]
    outcome.run_after_response()
    assert own_hooks == ["after the stream"]


def test_a_streaming_writer_handler_with_its_http_prelude(own_hooks: list[str]) -> None:
    from runtime.streaming import ResponseStream, streaming

    @streaming
    def handler(event: Any, stream: ResponseStream, context: Any) -> None:
        stream.set_http(201, {"x-app": "1"})
        stream.write("hello")
        stream.close()
        own_hooks.append("after close")

    outcome = invoke(handler, {})
    assert outcome.error is None and own_hooks == ["after close"]
    prelude, _, body = (outcome.body or b"").partition(b"\0" * 8)
    assert prelude == b'{"statusCode":201,"headers":{"x-app":"1"}}' and body == b"hello"
    assert outcome.invocation.streamed is not None and outcome.invocation.streamed.chunks == 1


def test_a_stream_that_fails_after_its_first_byte_is_the_outcomes_error() -> None:
    def handler(event: Any, context: Any) -> Iterator[bytes]:
        yield b"partial"
        raise ValueError("the export broke")

    outcome = invoke(handler, {})
    assert isinstance(outcome.error, ValueError) and outcome.body == b"partial"
    assert outcome.invocation.streamed is not None and outcome.invocation.streamed.error is outcome.error
