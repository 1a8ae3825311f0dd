"""The after-response API when another runtime serves the function (awslambdaric, as the managed Python runtimes
and the AWS base images run it): nothing is lost silently. One warning says hooks will not run there, and `defer()`
runs its work at once, before the response, instead of never."""

from __future__ import annotations

from emulator.server import LambdaApiServer
from tests.conftest import StartRuntime

WARNING = "this function is served by another runtime"


def test_under_awslambdaric_deferred_work_runs_before_the_response_with_one_warning(
    api: LambdaApiServer, start: StartRuntime
) -> None:
    process = start("elsewhere.handler", runtime="awslambdaric")
    request_ids = [api.submit(b"{}") for _ in range(2)]
    for request_id in request_ids:
        assert api.result(request_id).json() == {"ok": True}
        api.wait_ended(request_id)
        [deferred] = api.marks(f"deferred-{request_id}")
        assert deferred.at < api.timing(request_id).responded_at  # ran inline: awslambdaric has no phase
        assert not api.marks(f"hook-{request_id}")
    output = process.output()
    assert output.count(WARNING) == 1, output
    assert "@after_response hook elsewhere.hook will not run" in output


def test_under_this_runtime_the_same_function_defers_and_runs_its_hook(
    api: LambdaApiServer, start: StartRuntime
) -> None:
    process = start("elsewhere.handler")
    request_id = api.submit(b"{}")
    assert api.result(request_id).json() == {"ok": True}
    api.wait_ended(request_id)
    timing = api.timing(request_id)
    [deferred] = api.marks(f"deferred-{request_id}")
    [hook] = api.marks(f"hook-{request_id}")
    assert timing.responded_at < deferred.at < hook.at < timing.runtime_next_at
    assert WARNING not in process.output()
