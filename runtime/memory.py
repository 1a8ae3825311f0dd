"""The built-in garbage-collection hook: automatic GC off while handlers run, `gc.collect()` after the response."""

from __future__ import annotations

import gc
import os

from .hooks import Invocation, Task

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int:
    """Resident set size now (not the peak), from /proc; 0 where /proc is missing."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return 0


class CollectAfterResponse:
    """Collect every `every` invocations, or only when RSS is above `rss_mb` (when set)."""

    def __init__(self, every: int = 1, rss_mb: int = 0) -> None:
        self.every = every
        self.rss_mb = rss_mb

    def __call__(self, invocation: Invocation) -> None:
        if self.rss_mb and rss_bytes() < self.rss_mb * 1024 * 1024:
            return
        gc.collect()

    def task(self) -> Task:
        # Runs last, after the user's hooks, so their garbage is collected too.
        return Task(self, name="gc.collect", every=self.every, is_hook=True)
