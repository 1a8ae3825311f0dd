"""Tests that run the real AWS Runtime Interface Emulator (RIE), and the helpers they share."""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from tests.support import rie

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
UUID_BYTES = re.compile(UUID.pattern.encode())
# Text log lines carry `2026-11-22T16:32:22.108Z`, JSON log lines `2026-11-22T16:32:22Z`.
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{3})?Z")
# RIE's own lines: `22 Nov 2026 16:32:22,056 [INFO] (rapid) ...` and START/END/REPORT. Searched anywhere in a line, so
# that an RIE line written right after function output without a final newline is still split off.
RIE_LINE = re.compile(
    r"(?:\d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d,\d{3} \[[A-Z]+\] \(rapid\) |(?:START|END|REPORT) RequestId: ).*$"
)
# Our runtime's one INFO summary line per invocation with after-response work (text or JSON format).
AFTER_RESPONSE_LINE = re.compile(r'^\[INFO\]\t[^\t]*\t[^\t]*\tafter-response: |"message": "after-response: ')

RUNTIMES = ("awslambdaric", "bootstrap")

# support.free_port() picks a port and releases it for RIE to bind: two RIEs starting side by side could otherwise be
# handed the same port. Rie() returns once RIE listens, so starting them one at a time is enough.
_START_LOCK = threading.Lock()


@dataclass(frozen=True)
class Request:
    """One invocation: the exact bytes RIE receives, and extra HTTP headers."""

    id: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


def request(case_id: str, event: Any, headers: Mapping[str, str] | None = None) -> Request:
    """`event` as JSON, or as it is when it is bytes."""
    body = event if isinstance(event, bytes) else json.dumps(event).encode()
    return Request(case_id, body, dict(headers or {}))


@dataclass
class Call:
    status: int
    body: bytes
    #: the output written during this invocation, as it is (RIE's lines included)
    raw: str
    #: the function's log lines: RIE's lines and our after-response summaries dropped, ids and times normalised
    log: list[str]
    #: how many after-response summary lines were dropped from `log`
    after_response_lines: int

    @property
    def normal_body(self) -> bytes:
        return normalise_body(self.body)

    def json(self) -> Any:
        return json.loads(self.normal_body)


@dataclass
class Run:
    """The invocations of one RIE (one runtime, one handler) and the whole combined output."""

    runtime: str
    handler: str
    calls: list[Call]
    output: str

    def rie_lines(self) -> list[str]:
        return [m.group(0) for line in self.output.split("\n") if (m := RIE_LINE.search(line))]


def normalise_body(body: bytes) -> bytes:
    return UUID_BYTES.sub(b"<request-id>", body)


def normalise(text: str) -> str:
    return TIMESTAMP.sub("<timestamp>", UUID.sub("<request-id>", text))


def function_lines(text: str) -> tuple[list[str], int]:
    """The function's log lines in `text` (lines end at "\\n"; "\\r" stays inside a line), and the count of dropped
    after-response summary lines."""
    lines: list[str] = []
    summaries = 0
    pieces = text.split("\n")
    if pieces and pieces[-1] == "":
        pieces.pop()
    for piece in pieces:
        match = RIE_LINE.search(piece)
        if match:
            piece = piece[: match.start()]
            if not piece:
                continue
        if AFTER_RESPONSE_LINE.search(piece):
            summaries += 1
            continue
        lines.append(normalise(piece))
    return lines, summaries


def run(handler: str, runtime: str, requests: Sequence[Request], env: Mapping[str, str] | None = None) -> Run:
    """Start one RIE with `runtime` serving `handler`, send the requests in order, and record what happened.

    RIE answers an invocation only after the runtime asked for the next one (or exited), and the runtime writes its
    logs to the same file before that, so the output written between sending a request and reading its reply holds
    all of that invocation's function log lines.
    """
    calls = []
    with contextlib.ExitStack() as stack:
        with _START_LOCK:
            emulator = stack.enter_context(rie(handler, runtime=runtime, env=env))
        for item in requests:
            start = len(emulator.process.output())
            status, body = emulator.invoke(item.body, item.headers)
            raw = emulator.process.output()[start:]
            log, summaries = function_lines(raw)
            calls.append(Call(status, body, raw, log, summaries))
        output = emulator.process.output()
    return Run(runtime, handler, calls, output)


def run_both(handler: str, requests: Sequence[Request], env: Mapping[str, str] | None = None) -> dict[str, Run]:
    """The same requests under awslambdaric and under our bootstrap, the two RIEs side by side."""
    with ThreadPoolExecutor(max_workers=len(RUNTIMES)) as pool:
        futures = {runtime: pool.submit(run, handler, runtime, requests, env) for runtime in RUNTIMES}
        return {runtime: future.result() for runtime, future in futures.items()}
