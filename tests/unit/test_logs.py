"""The runtime's log records: the extension thread's own warning line has the root handler's exact shape."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterator

import pytest

from runtime import logformat, logs
from runtime.current import Lifetime
from runtime.invocation import Request
from runtime.loghandler import LambdaLogHandler


@pytest.fixture
def settings() -> Iterator[None]:
    saved = (logs._settings.json_format, logs._settings.level)
    yield
    logs._settings.json_format, logs._settings.level = saved


@pytest.mark.parametrize("json_format", [False, True])
@pytest.mark.parametrize("tenant_id", [None, "tenant-7"])
@pytest.mark.parametrize("hook", [None, "app.flush"])
def test_a_thread_warning_is_the_line_the_root_handler_writes(
    settings: None, json_format: bool, tenant_id: str | None, hook: str | None
) -> None:
    logs._settings.json_format = json_format
    lifetime = Lifetime(10)  # an open invocation: its ids go into both lines
    lifetime.begin(Request("8f5c-req", int(time.time() * 1000) + 1000, tenant_id=tenant_id))
    stream = io.StringIO()
    handler = LambdaLogHandler(logformat.StdoutSink(stream), json_format, frame_by_level=False)
    assert handler.formatter is not None
    handler.formatter.converter = time.gmtime  # as logs.setup() installs it
    record = logging.LogRecord(logformat.RUNTIME_LOGGER, logging.WARNING, __file__, 1, "watchdog: héllo", None, None)
    record.created = 1764558000.123456  # a fixed time, with milliseconds
    record.msecs = 123.0
    if hook is not None:
        record.hook = hook
    handler.handle(record)
    line, _ = logs.format_warning("watchdog: héllo", hook, record.created)
    lifetime.end()
    assert line == stream.getvalue() and "8f5c-req" in line


def test_the_frame_type_follows_the_level_setting(settings: None) -> None:
    logs._settings.json_format = False
    logs._settings.level = ""
    assert logs.format_warning("x", None, time.time())[1] is None
    logs._settings.level = "INFO"
    assert logs.format_warning("x", None, time.time())[1] == logformat.TEXT_FRAMES[30]
    logs._settings.json_format = True
    assert logs.format_warning("x", None, time.time())[1] == logformat.JSON_FRAMES[30]
