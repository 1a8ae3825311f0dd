"""Memory behaviour: the allocator's thresholds set at start-up, and the built-in garbage-collection hook."""

from __future__ import annotations

import gc
import os

from . import logs
from .hooks import Task
from .invocation import Invocation

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

# Events and results up to this size are (un)marshalled in memory the allocator keeps between invocations.
HEAP_KEEP_BYTES = 1024 * 1024


def keep_heap_between_invocations(size: int = HEAP_KEEP_BYTES) -> None:
    """Make glibc keep up to 2 x `size` of freed heap instead of giving it back to the kernel after each invocation.

    glibc returns the top of the heap to the kernel when more than 128 KiB of it is free (M_TRIM_THRESHOLD). An
    invocation with a 100 KB event frees its body, its decoded text and its receive chunks at once, so every such
    invocation mapped the same pages again: ~40 page faults, ~80 µs of its critical path (docs/design.md, "Memory").
    glibc raises that threshold by itself to twice the size of any block it served with mmap once the block is
    freed (mallopt(3), "dynamic mmap threshold"); this frees such a block at start-up. `os.read` allocates the
    block without touching its pages and frees it when it reads nothing. No effect with other allocators, nor when
    MALLOC_MMAP_THRESHOLD_ or MALLOC_TRIM_THRESHOLD_ fix the thresholds.
    """
    try:
        fd = os.open(os.devnull, os.O_RDONLY)
    except OSError:
        return
    try:
        os.read(fd, size)
    finally:
        os.close(fd)


def rss_bytes() -> int:
    """Resident set size now (not the peak), from /proc; 0 where /proc is missing."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return 0


class CollectAfterResponse:
    """`RUNTIME_GC=after_response`: automatic collection off, a collection in the phase every `every` invocations,
    or only when RSS is above `rss_mb` (when set).

    A collection the phase has no time for is not lost: automatic collection is switched back on until the next
    collection runs (docs/design.md, "The GC option"). Without that, a function that always runs close to its
    deadline would never collect its cycles (measured: RSS 70 -> 406 MB over 2,000 invocations).
    """

    def __init__(self, every: int = 1, rss_mb: int = 0) -> None:
        self.every = every
        self.rss_mb = rss_mb

    def __call__(self, invocation: Invocation) -> None:
        if self.rss_mb and rss_bytes() < self.rss_mb * 1024 * 1024:
            return
        gc.collect()
        gc.disable()  # collected: automatic collection may stay off again

    def task(self) -> Task:
        # Runs last, after the user's hooks, so their garbage is collected too.
        return Task(self, name="gc.collect", every=self.every, is_hook=True, on_skip=gc.enable)


class InitGarbage:
    """`RUNTIME_GC_INIT=deferred`: no collection while the handler's module is imported (CPython collects many times
    while a large app is imported, each pass scanning everything imported so far), then what init made is frozen at
    once, before the first `/next`, so no collection during an invocation scans it; and the garbage init left (its
    cycles) is collected right after the first invocation's after-response phase: unfrozen, collected, frozen again.
    docs/design.md "The collector at init" has the measurements."""

    def __init__(self) -> None:
        self.was_enabled = gc.isenabled()

    def pause(self) -> None:
        """Before the import."""
        gc.disable()

    def end_init(self, ahead: bool, keep_disabled: bool) -> None:
        """After init, before the first `/next`: what init made frozen, the collector back on (unless
        RUNTIME_GC=after_response keeps it off). `ahead`: init runs before any caller waits (provisioned
        concurrency, SnapStart, Managed Instances), so its garbage is collected now, before the freeze; only what
        this process made is scanned, and what a Managed Instances worker inherited from its parent stays frozen,
        its pages shared with the other workers (a collection writes to the header of every object it scans)."""
        if ahead:
            self._collect()
        gc.freeze()
        if self.was_enabled and not keep_disabled:
            gc.enable()

    def collect(self) -> None:
        """After the first invocation's phase: the init's garbage freed, init frozen again."""
        gc.unfreeze()
        self._collect()
        gc.freeze()

    def _collect(self) -> None:
        import time

        started = time.monotonic()
        freed = gc.collect()
        if logs.runtime_enabled_for(10):
            logs.runtime_logger().debug(
                "gc: the init's garbage collected: %d objects in %.1f ms",
                freed,
                (time.monotonic() - started) * 1000,
            )
