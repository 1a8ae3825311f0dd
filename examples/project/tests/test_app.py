"""The handler and its after-response work, in-process: what the caller gets, and what runs after it."""

from runtime.testing import invoke

import app


def test_the_order_is_accepted_and_its_event_sent_after_the_response() -> None:
    outcome = invoke(app.handler, {"order_id": "o-1"})
    assert outcome.result == {"status": "accepted", "order_id": "o-1"}
    assert outcome.deferred == ["app.send_order_event"]  # scheduled, not run yet: the caller already has its answer
    assert outcome.hooks == ["app.flush_metrics"]
    assert outcome.run_after_response() == [("app.send_order_event", "ok"), ("app.flush_metrics", "ok")]
