"""Fixtures of the in-process web tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from runtime import aio, hooks


@pytest.fixture
def fresh_loop() -> Iterator[None]:
    """Each test with its own event loop, and without the shutdown hooks earlier tests' lifespans registered."""
    shutdown_hooks = list(hooks.registry.shutdown)
    yield
    hooks.registry.shutdown[:] = shutdown_hooks
    aio.close()
