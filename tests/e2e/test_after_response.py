"""The after-response phase through the real bootstrap; order and causality from the Runtime API's timestamps."""

from __future__ import annotations

import json
import signal
import time

from emulator.server import LambdaApiServer, Recorded
from tests.conftest import StartRuntime


def one(requests: list[Recorded]) -> Recorded:
    assert len(requests) == 1, requests
    return requests[0]


def run_one(api: LambdaApiServer, event: dict[str, object]) -> str:
    request_id = api.submit(json.dumps(event).encode())
    api.result(request_id)
    api.wait_ended(request_id)
    return request_id


def test_hooks_start_after_the_response_and_end_before_the_next_next(api: LambdaApiServer, start: StartRuntime) -> None:
    start("phase.handler")
    run_one(api, {"hook_sleep": 0.3})
    response = one(api.find("/response"))
    first_start, first_end = one(api.marks("first-start-ok")), one(api.marks("first-end"))
    second_next = api.find("/invocation/next")[1]
    assert response.replied_at <= first_start.at
    assert first_end.at < one(api.marks("second")).at < second_next.at


def test_the_caller_is_not_delayed_by_a_slow_hook(api: LambdaApiServer, start: StartRuntime) -> None:
    start("phase.handler")
    run_one(api, {"hook_sleep": 0.3})
    handler_return = one(api.marks("handler-return"))
    response = one(api.find("/response"))
    first_end = one(api.marks("first-end"))
    # The response follows the handler's return at once; the 300 ms hook ends long after it.
    assert response.at - handler_return.at < 0.1
    assert first_end.at - response.at >= 0.3


def test_hooks_run_after_an_error_too_and_see_it(api: LambdaApiServer, start: StartRuntime) -> None:
    start("phase.handler")
    run_one(api, {"fail": True, "hook_sleep": 0.1})
    error = one(api.find("/error"))
    assert error.replied_at <= one(api.marks("first-start-ValueError")).at
    assert one(api.marks("error-only")).at < api.find("/invocation/next")[1].at
    assert not api.find("/response")


def test_deferred_work_runs_first_in_order_then_hooks_in_registration_order(
    api: LambdaApiServer, start: StartRuntime
) -> None:
    start("phase.handler")
    run_one(api, {"defer": ["a", "b", "c"], "nested": True})
    names = [r.path.rsplit("/", 1)[1] for r in api.requests if "/test/mark/" in r.path]
    assert names == [
        "handler-return",
        "deferred-a",
        "deferred-b",
        "deferred-c",
        "parent",
        "child",  # deferred by `parent`: runs right after it
        "first-start-ok",
        "first-end",
        "second",
        "needs-half-a-second",
        "every-other",
    ]


def test_every_and_when_options(api: LambdaApiServer, start: StartRuntime) -> None:
    start("phase.handler")
    for _ in range(4):
        run_one(api, {})
    assert len(api.marks("every-other")) == 2
    assert len(api.marks("second")) == 4
    assert not api.marks("error-only")


def test_a_failing_hook_is_logged_and_the_next_hook_still_runs(api: LambdaApiServer, start: StartRuntime) -> None:
    process = start("phase.handler")
    request_id = run_one(api, {"hook_raises": True})
    assert api.marks("second")
    assert one(api.find("/response")).status == 202
    output = process.output()
    line = next(line for line in output.split("\n") if "after-response: phase.first failed" in line)
    assert line.startswith("[ERROR]") and request_id in line
    assert "RuntimeError: hook failure" in line and "\rTraceback (most recent call last):" in line
    assert "1 failed" in output
    assert api.invoke(b"{}").json()["ok"] is True  # the next invocation is served normally


def test_a_failing_hook_in_json_log_format(api: LambdaApiServer, start: StartRuntime) -> None:
    process = start("phase.handler", {"AWS_LAMBDA_LOG_FORMAT": "JSON"})
    request_id = run_one(api, {"hook_raises": True})
    records = [json.loads(line) for line in process.output().splitlines() if line.startswith("{")]
    failure = next(r for r in records if r.get("hook") == "phase.first" and r["level"] == "ERROR")
    assert failure["requestId"] == request_id
    assert failure["errorType"] == "RuntimeError" and failure["stackTrace"]
    summary = next(r for r in records if "afterResponse" in r)
    assert summary["afterResponse"]["failed"] == 1 and summary["requestId"] == request_id


def test_sys_exit_in_a_hook_does_not_end_the_runtime(api: LambdaApiServer, start: StartRuntime) -> None:
    process = start("phase.handler")
    run_one(api, {"hook_exits": True})
    assert "after-response: phase.first failed: SystemExit: 5" in process.output()
    assert api.invoke(b"{}").kind == "response"
    assert process.popen.poll() is None


def test_async_hooks_and_deferred_coroutines(api: LambdaApiServer, start: StartRuntime) -> None:
    start("phase.handler")
    run_one(api, {"defer_async": True})
    assert one(api.marks("async-deferred")).at < one(api.marks("coroutine-object")).at < one(api.marks("second")).at


def test_logs_in_hooks_carry_the_request_id(api: LambdaApiServer, start: StartRuntime) -> None:
    process = start("phase.handler")
    request_id = run_one(api, {})
    assert f"\t{request_id}\tfirst hook ran for {request_id}\n" in process.output()


def test_endless_deferral_is_bounded(api: LambdaApiServer, start: StartRuntime) -> None:
    process = start("phase.handler", {"RUNTIME_MAX_DEFERRED": "50"})
    run_one(api, {"defer_forever": True})
    output = process.output()
    assert "defer() called more than 50 times in one invocation (RUNTIME_MAX_DEFERRED)" in output
    assert api.invoke(b"{}").kind == "response"


def test_what_does_not_fit_the_deadline_is_skipped_by_name(api: LambdaApiServer, start: StartRuntime) -> None:
    process = start("phase.handler")
    api.timeout_s = 2.0
    # The handler returns with 450 ms left: 250 ms after the 200 ms margin. The 0.5 s hook does not fit.
    run_one(api, {"sleep_until_ms_left": 450})
    output = process.output()
    assert "after-response: skipped phase.needs_half_a_second:" in output and "it needs 500 ms" in output
    assert not api.marks("needs-half-a-second")
    assert api.marks("second")


def test_an_async_hook_is_cancelled_when_the_budget_runs_out(api: LambdaApiServer, start: StartRuntime) -> None:
    process = start("phase.handler")
    api.timeout_s = 2.0
    run_one(api, {"sleep_until_ms_left": 900, "async_sleep": 5})
    output = process.output()
    assert "after-response: phase.second timed out after" in output
    assert not api.marks("second")
    next_call = api.find("/invocation/next")[1]
    response = one(api.find("/response"))
    assert next_call.at - response.at < 3.0  # the phase ended at the 0.7 s budget, not after the 5 s sleep


def test_the_watchdog_names_a_sync_hook_that_overruns_the_deadline(api: LambdaApiServer, start: StartRuntime) -> None:
    process = start("phase.handler")
    api.timeout_s = 1.0
    run_one(api, {"hook_sleep": 1.2})
    assert "watchdog: phase.first is still running" in process.output()


def test_sigterm_during_the_phase_runs_pending_work_and_shutdown_hooks(
    api: LambdaApiServer, start: StartRuntime
) -> None:
    process = start("phase.handler")
    api.submit(json.dumps({"defer_slow": 5}).encode())
    api.wait_for(lambda: bool(api.marks("slow-deferred-sleeping")))  # inside time.sleep(5), the first deferred task
    sent = time.monotonic()
    process.popen.send_signal(signal.SIGTERM)
    assert process.wait(5) == 0
    assert time.monotonic() - sent < 2.0
    after_slow, shutdown = one(api.marks("after-slow")), one(api.marks("shutdown-hook"))
    assert after_slow.at < shutdown.at
    assert "shutdown: " in process.output()


def test_the_gc_option_collects_after_the_response(api: LambdaApiServer, start: StartRuntime) -> None:
    start("phase.handler", {"RUNTIME_GC": "after_response"})
    request_id = run_one(api, {"garbage": True})
    assert api.result(request_id).json() == {"ok": True, "gc_enabled": False}
    assert one(api.find("/response")).replied_at <= one(api.marks("collected")).at


def test_the_gc_option_alone_logs_no_summary_record(api: LambdaApiServer, start: StartRuntime) -> None:
    process = start("zoo.echo", {"RUNTIME_GC": "after_response"})
    for _ in range(2):
        run_one(api, {})
    assert "after-response: " not in process.output()


def test_the_gc_option_shows_in_the_summary_of_user_work(api: LambdaApiServer, start: StartRuntime) -> None:
    # The control of the test above: the same runtime logs a summary when there is user work, collection included.
    process = start("phase.handler", {"RUNTIME_GC": "after_response"})
    run_one(api, {})
    summary = next(line for line in process.output().split("\n") if "after-response: " in line)
    assert "gc.collect ok" in summary


def test_the_extension_registers_before_the_first_next(api: LambdaApiServer, start: StartRuntime) -> None:
    start("phase.handler")
    run_one(api, {})
    run_one(api, {})
    register = one(api.find("/extension/register"))
    # No events: it costs Lambda nothing per invocation; its one event/next, before the runtime's first /next,
    # completes init (and is never answered).
    assert json.loads(register.body) == {"events": []}
    # The two requests come on two connections, each read by its own server thread: their `at` can be recorded in
    # either order within microseconds. What Lambda needs is that init completed with the extension waiting: the
    # first /next was answered only after event/next had arrived.
    first_next = api.find("/invocation/next")[0]
    assert register.at < one(api.find("/extension/event/next")).at < first_next.replied_at


def test_the_extension_can_be_turned_off(api: LambdaApiServer, start: StartRuntime) -> None:
    start("phase.handler", {"RUNTIME_EXTENSION": "off"})
    run_one(api, {})
    assert not api.find("/extension/register")


def test_emf_metrics_and_the_summary_line(api: LambdaApiServer, start: StartRuntime) -> None:
    process = start("phase.handler", {"RUNTIME_EMF": "1"})
    run_one(api, {"hook_raises": True})
    emf = next(json.loads(line) for line in process.output().splitlines() if '"_aws"' in line)
    assert emf["AfterResponseFailures"] == 1 and emf["AfterResponseDuration"] > 0
    assert emf["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["FunctionName"]]


def test_the_summary_line_can_be_silenced(api: LambdaApiServer, start: StartRuntime) -> None:
    process = start("phase.handler", {"RUNTIME_LOG_LEVEL": "WARNING"})
    run_one(api, {})
    assert "first hook ran" in process.output()
    assert "after-response:" not in process.output()


def test_the_collector_waits_for_init_and_the_inits_garbage_is_collected_after_the_first_response(
    api: LambdaApiServer, start: StartRuntime
) -> None:
    start("gc_init.handler")
    first = run_one(api, {})
    assert api.result(first).json() == {"enabled_at_import": False, "enabled_now": True}
    [collected] = api.marks("init-garbage-collected")
    timing = api.timing(first)
    assert timing.responded_at < collected.at < timing.runtime_next_at  # in the first phase, after the response
    run_one(api, {})
    assert len(api.marks("init-garbage-collected")) == 1


def test_runtime_gc_init_off_leaves_the_collector_on_during_init(api: LambdaApiServer, start: StartRuntime) -> None:
    start("gc_init.handler", {"RUNTIME_GC_INIT": "off"})
    first = run_one(api, {})
    assert api.result(first).json() == {"enabled_at_import": True, "enabled_now": True}
