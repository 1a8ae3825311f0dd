"""Handlers and hooks from the outside attack and the newcomer's trial (reliability round 2).

This module must not import `logging`: some scenarios depend on which thread imports it first.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import threading
import time
from typing import Any

from marks import mark, mark_when_main_thread_blocks  # type: ignore[import-not-found]  # tests/functions is the task root

from runtime import DeferError, Invocation, after_response, defer, on_shutdown

_state: dict[str, Any] = {}


@after_response
def count(invocation: Invocation) -> None:
    """Every phase leaves a mark naming the process that ran it and the invocation it got."""
    request_id = invocation.request_id if invocation is not None else "None"
    mark(f"hook-{os.getpid()}-{request_id}")


def fork(event: dict[str, Any], context: Any) -> Any:
    """Fork; the child leaves as `event["child"]` says: sys.exit(0), return, or raise."""
    pid = os.fork()
    if pid == 0:
        if event["child"] == "exit":
            sys.exit(0)
        if event["child"] == "raise":
            raise RuntimeError("raised in the child")
        return {"from": "child"}
    os.waitpid(pid, 0)
    return {"from": "parent", "pid": os.getpid()}


def fork_in_hook(event: dict[str, Any], context: Any) -> Any:
    defer(_fork_and_return)
    return "ok"


def _fork_and_return() -> None:
    pid = os.fork()
    if pid != 0:
        os.waitpid(pid, 0)
        mark(f"forked-{pid}")


def defer_then_sleep(event: dict[str, Any], context: Any) -> Any:
    defer(mark, "deferred-before-sigterm")
    mark_when_main_thread_blocks("sleep", "handler-sleeping")  # once the main thread is inside the sleep below
    time.sleep(30)
    return "never"


def ok(event: Any, context: Any) -> Any:
    return "ok"


def dispatch(event: dict[str, Any], context: Any) -> Any:
    """Several scenarios in one process: `{"call": "start_deferring_thread"}` runs that function."""
    return globals()[event["call"]](event, context)


# Hooks switched on by the event --------------------------------------------------------------------------------


@after_response
def slow_when_asked(invocation: Invocation) -> None:
    event = invocation.event if isinstance(invocation.event, dict) else {}
    if event.get("hook_sleep"):
        mark_when_main_thread_blocks("sleep", "slow-hook-sleeping")  # once the main thread is inside the sleep below
        time.sleep(event["hook_sleep"])


@after_response
def after_slow(invocation: Invocation) -> None:
    event = invocation.event if isinstance(invocation.event, dict) else {}
    if event.get("hook_sleep"):
        mark(f"after-slow-{invocation.request_id if invocation is not None else 'None'}")


class EvilStr(Exception):
    def __str__(self) -> str:
        raise SystemExit(9)


class BrokenStr(Exception):
    def __str__(self) -> str:
        raise ValueError("no text for you")


@after_response
def raises_odd_exceptions(invocation: Invocation) -> None:
    event = invocation.event if isinstance(invocation.event, dict) else {}
    if event.get("evil_str"):
        raise EvilStr()
    if event.get("broken_str"):
        raise BrokenStr()


@after_response(timeout=0.2)
async def blocks_synchronously(invocation: Invocation) -> None:
    event = invocation.event if isinstance(invocation.event, dict) else {}
    if event.get("block_async"):
        time.sleep(event["block_async"])  # holds the event loop: cannot be cancelled
    if event.get("await_s"):
        await asyncio.sleep(event["await_s"])
    if event.get("fire_and_forget"):
        _state["task"] = asyncio.get_running_loop().create_task(_forgotten(invocation.request_id))


async def _forgotten(request_id: str) -> None:
    await asyncio.sleep(0.05)
    mark(f"forgotten-task-of-{request_id}")


def start_deferring_thread(event: dict[str, Any], context: Any) -> Any:
    """Start a thread that calls defer() now, and again once the next invocation runs."""

    def work() -> None:
        defer(mark, f"thread-deferred-in-{context.aws_request_id}")
        _state["first_done"].set()
        _state["second_invocation"].wait(10)
        try:
            defer(mark, "thread-deferred-late")
            _state["late"] = "accepted"
        except DeferError as exc:
            _state["late"] = f"DeferError: {exc}"
        _state["late_done"].set()

    _state["first_done"] = threading.Event()
    _state["second_invocation"] = threading.Event()
    _state["late_done"] = threading.Event()
    threading.Thread(target=work, daemon=True).start()
    _state["first_done"].wait(10)
    return "started"


def let_the_thread_defer(event: Any, context: Any) -> Any:
    _state["second_invocation"].set()
    _state["late_done"].wait(10)
    return _state["late"]


def make_cycles(event: Any, context: Any) -> Any:
    """Leave cyclic garbage; return how many such objects the collector has freed so far."""
    for _ in range(event.get("cycles", 1)):
        Cycle()
    return _state.get("collected", 0)


class Cycle:
    def __init__(self) -> None:
        self.me = self
        self.payload = bytearray(1024)

    def __del__(self) -> None:
        _state["collected"] = _state.get("collected", 0) + 1


def set_default_timeout(event: Any, context: Any) -> Any:
    socket.setdefaulttimeout(0.2)  # user code's choice; must not reach the runtime's own connections
    return "ok"


@after_response
async def waits_forever_when_asked(invocation: Invocation) -> None:
    event = invocation.event if isinstance(invocation.event, dict) else {}
    if event.get("await_forever"):
        await asyncio.sleep(3600)


def env_of(event: dict[str, Any], context: Any) -> Any:
    return {name: os.environ.get(name) for name in event["names"]}


@on_shutdown
def say_goodbye() -> None:
    print("attack: the shutdown hook ran")


@on_shutdown
def slow_shutdown() -> None:
    if os.environ.get("SLOW_SHUTDOWN"):
        mark("slow-shutdown-running")
        time.sleep(5)
