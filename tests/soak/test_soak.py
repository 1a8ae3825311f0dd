"""20,000 invocations on the emulator with hooks and deferred work: each ran exactly once, resources stay flat."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from emulator.environment import Emulator
from tests.support import FUNCTIONS

pytestmark = pytest.mark.soak

INVOCATIONS = 20_000
WARM_UP = 1_000
# RSS may grow by allocator noise and caches; a leak of even 100 bytes per invocation would show as ~2 MB here.
RSS_GROWTH_BOUND_KB = 2048


def test_soak() -> None:
    lines: list[str] = []
    with Emulator("soak.handler", FUNCTIONS, timeout_s=10, log=lines.append,
                  env={"RUNTIME_LOG_LEVEL": "WARNING"}) as emulator:  # fmt: skip

        def report() -> dict[str, Any]:
            result, _ = emulator.invoke(b'{"report": true}')
            data: dict[str, Any] = json.loads(result.body)
            return data

        started = time.monotonic()
        for n in range(INVOCATIONS):
            if n == WARM_UP:
                warm = report()
            result, timeline = emulator.invoke(json.dumps({"n": n}).encode())
            assert result.kind == "response" and json.loads(result.body) == {"n": n}
            assert not timeline.cold_start or n == 0
        final = report()
        elapsed = time.monotonic() - started
    print(f"{INVOCATIONS} invocations in {elapsed:.1f} s; warm-up {warm}; final {final}")
    for counter in ("handled", "deferred", "async_deferred", "hook", "async_hook"):
        assert final[counter] == INVOCATIONS, counter  # every one ran, and none twice
    assert final["rss_kb"] - warm["rss_kb"] <= RSS_GROWTH_BOUND_KB
    assert final["fds"] == warm["fds"]
    assert final["threads"] == warm["threads"] == 3  # the main thread, the extension's and the SIGTERM relay
    unexplained = [line for line in lines if "WARNING" in line or "ERROR" in line or "Traceback" in line]
    assert unexplained == []
