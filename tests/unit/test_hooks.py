"""The after-response scheduler in-process, with a fresh registry per test (no global state shared)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.current import Lifetime
from runtime.hooks import DeferError, Registry, Task, defer
from runtime.invocation import Invocation, Request
from runtime.phase import PhaseRunner


@pytest.fixture
def registry() -> Registry:
    return Registry()


_runners: list[PhaseRunner] = []


def runner_for(registry: Registry, margin_ms: int = 0, max_deferred: int = 1000) -> PhaseRunner:
    _runners.append(PhaseRunner(registry, Lifetime(max_deferred), margin_ms=margin_ms))
    return _runners[-1]


@pytest.fixture(autouse=True)
def close_runners() -> Iterator[None]:
    yield
    while _runners:
        _runners.pop().close()


def invocation(ms_left: int = 60_000, error: BaseException | None = None) -> Invocation:
    return Invocation(Request("req-1", int(time.time() * 1000) + ms_left), event={}, error=error)


def hook(registry: Registry, fn: Any, **options: Any) -> None:
    registry.hooks.append(Task(fn, is_hook=True, **options))


# A tree of deferred work: each node records its label, then defers its children.
Tree = tuple[str, list[Any]]
trees: st.SearchStrategy[Tree] = st.recursive(
    st.builds(lambda label: (label, []), st.text("abcdef", min_size=1, max_size=3)),
    lambda children: st.tuples(st.text("abcdef", min_size=1, max_size=3), st.lists(children, max_size=3)),
    max_leaves=12,
)


def preorder(tree: Tree) -> Iterator[str]:
    label, children = tree
    yield label
    for child in children:
        yield from preorder(child)


@settings(max_examples=150, deadline=None)
@given(deferred=st.lists(trees, max_size=4), hook_trees=st.lists(trees, max_size=3))
def test_deferred_first_in_order_then_hooks_and_nested_work_right_after_its_parent(
    deferred: list[Tree], hook_trees: list[Tree]
) -> None:
    registry = Registry()
    ran: list[str] = []

    def node(tree: Tree) -> None:
        label, children = tree
        ran.append(label)
        for child in children:
            defer(node, child)

    for index, tree in enumerate(hook_trees):
        hook(registry, lambda _invocation, tree=tree: node(tree), name=f"hook{index}")
    runner = runner_for(registry)
    current = invocation()
    runner.lifetime.begin(current.request)
    for tree in deferred:
        defer(node, tree)
    report = runner.run(current)
    runner.close()
    expected = [label for tree in [*deferred, *hook_trees] for label in preorder(tree)]
    assert ran == expected
    assert report.count("ok") == len(report.items)


def test_a_failing_task_does_not_stop_the_others(registry: Registry) -> None:
    ran: list[str] = []

    def boom(_: Invocation) -> None:
        raise ValueError("boom")

    hook(registry, boom)
    hook(registry, lambda _: ran.append("after"), name="after")
    report = runner_for(registry).run(invocation())
    assert ran == ["after"]
    assert [outcome for _, outcome, _ in report.items] == ["failed", "ok"]


def test_defer_outside_an_invocation_is_a_clear_error() -> None:
    with pytest.raises(DeferError, match="defer\\(\\) called while no invocation is open"):
        defer(print, "x")


def test_defer_needs_something_to_call(registry: Registry) -> None:
    runner = runner_for(registry)
    runner.lifetime.begin(invocation().request)
    try:
        with pytest.raises(TypeError, match="defer\\(\\) needs a callable or a coroutine, not int"):
            defer(42)
    finally:
        runner.lifetime.end()


def test_the_per_invocation_limit(registry: Registry) -> None:
    runner = runner_for(registry, max_deferred=3)
    runner.lifetime.begin(invocation().request)
    for _ in range(3):
        defer(print)
    with pytest.raises(DeferError, match="more than 3 times"):
        defer(print)
    runner.lifetime.end()


def test_the_phase_closes_the_scope(registry: Registry) -> None:
    runner = runner_for(registry)
    current = invocation()
    runner.lifetime.begin(current.request)
    runner.run(current)
    with pytest.raises(DeferError):
        defer(print)


def test_when_and_every(registry: Registry) -> None:
    ran: list[str] = []
    hook(registry, lambda _: ran.append("success"), when="success")
    hook(registry, lambda _: ran.append("error"), when="error")
    hook(registry, lambda _: ran.append("third"), every=3)
    runner = runner_for(registry)
    for error in (None, ValueError("x"), None, None):
        runner.run(invocation(error=error))
    assert ran == ["success", "third", "error", "success", "success", "third"]


def test_no_budget_means_skipped_by_name(registry: Registry, caplog: pytest.LogCaptureFixture) -> None:
    ran: list[str] = []
    hook(registry, lambda _: ran.append("x"), name="late")
    report = runner_for(registry, margin_ms=500).run(invocation(ms_left=400))
    assert ran == [] and report.items[0][:2] == ("late", "skipped")
    assert "after-response: skipped late:" in caplog.text


def test_a_hook_runs_only_if_its_timeout_fits(registry: Registry) -> None:
    ran: list[str] = []
    hook(registry, lambda _: ran.append("big"), name="big", timeout=5.0)
    hook(registry, lambda _: ran.append("small"), name="small", timeout=0.5)
    runner_for(registry).run(invocation(ms_left=2000))
    assert ran == ["small"]


def test_async_hooks_get_a_hard_timeout(registry: Registry) -> None:
    async def slow(_: Invocation) -> None:
        await asyncio.sleep(10)

    hook(registry, slow, name="slow", timeout=0.05)
    started = time.monotonic()
    report = runner_for(registry).run(invocation())
    assert report.items[0][:2] == ("slow", "timed_out")
    assert time.monotonic() - started < 5


def test_a_coroutine_object_deferred_but_never_run_is_closed(registry: Registry) -> None:
    async def never() -> None:
        pass

    runner = runner_for(registry, margin_ms=10_000)
    current = invocation(ms_left=1000)
    runner.lifetime.begin(current.request)
    defer(never())
    report = runner.run(current)  # no budget: skipped, and closed (no "never awaited" warning)
    assert report.items[0][1] == "skipped"


def test_the_invocation_tells_the_time_left_before_its_deadline() -> None:
    assert 59_000 < invocation(ms_left=60_000).remaining_time_in_millis() <= 60_000
    assert invocation(ms_left=-5_000).remaining_time_in_millis() == 0
