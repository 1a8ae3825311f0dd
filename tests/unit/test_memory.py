"""The allocator setting made at start-up: a 100 KB invocation no longer maps its memory afresh each time."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import textwrap

import pytest

from tests.support import ROOT, without_coverage

# What one invocation with a ~100 KB event allocates and frees in large blocks, in the runtime's order: the head's
# receive chunk, the rest of the body, the joined body, its decoded text, then everything freed after the response.
# Returns the minor page faults of 200 such invocations.
_INVOCATIONS = textwrap.dedent(
    """
    import resource, sys
    sys.path.insert(0, sys.argv[1])
    if sys.argv[2] == "keep":
        from runtime.memory import keep_heap_between_invocations
        keep_heap_between_invocations()
    def invocation():
        first, rest = b"x" * 65_000, b"y" * 37_000
        body = b"".join([first, rest])
        text = body.decode("ascii")
        return len(text)
    for _ in range(20):
        invocation()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(200):
        invocation()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    """
)


def page_faults(mode: str) -> int:
    # glibc's defaults: no malloc settings inherited from the environment; no coverage measurement either.
    env = {k: v for k, v in without_coverage(os.environ).items() if not k.startswith(("MALLOC_", "GLIBC_TUNABLES"))}
    done = subprocess.run(
        [sys.executable, "-c", _INVOCATIONS, str(ROOT), mode],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=env,
    )
    return int(done.stdout)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the setting acts on glibc's malloc only")
def test_large_invocations_reuse_the_heap_instead_of_faulting_it_in_again() -> None:
    # Without the setting glibc gives the freed top of the heap back after each invocation and faults it in again
    # on the next one (the control: proves the count can fail); with it, the pages stay.
    assert page_faults("default") >= 200
    assert page_faults("keep") < 20
