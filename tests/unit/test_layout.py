"""The layout rules of issue 2: one module speaks HTTP to the Runtime API; the loop reads in protocol order."""

from __future__ import annotations

import re
from pathlib import Path

RUNTIME = Path(__file__).resolve().parent.parent.parent / "runtime"
API_NAMES = re.compile(r"/2018-06-01|/2020-01-01|Lambda-Runtime-|Lambda-Extension-")
HTTP = re.compile(
    r"/2018-06-01|/2020-01-01|Lambda-Runtime-|Lambda-Extension-|\bimport _?socket\b|http\.client|http\.server|urllib"
    r"|\bselect\b",
    re.IGNORECASE,
)


def speakers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.glob("*.py") if HTTP.search(path.read_text()))


def test_only_api_speaks_http_or_knows_runtime_api_paths_and_headers() -> None:
    assert speakers(RUNTIME) == ["api.py", "httpclient.py"]
    # httpclient.py speaks HTTP, but knows no Runtime API path or header.
    assert not re.search(
        r"/2018-06-01|/2020-01-01|Lambda-Runtime-|Lambda-Extension-", (RUNTIME / "httpclient.py").read_text()
    )


def test_the_emulator_has_one_module_on_the_server_side() -> None:
    emulator = RUNTIME.parent / "emulator"
    assert speakers(emulator) == ["cli.py", "server.py"]
    # cli.py serves the emulator's RIE-style invoke endpoint to callers: no Runtime API path or header.
    assert not re.search(
        r"/2018-06-01|/2020-01-01|Lambda-Runtime-|Lambda-Extension-", (emulator / "cli.py").read_text()
    )


def test_the_loop_reads_in_protocol_order() -> None:
    source = (RUNTIME / "loop.py").read_text()
    handle = source[source.index("    def handle(") :]
    steps = ["self.handler(", "self._deliver(", "self.runner.run("]
    positions = [handle.index(step) for step in steps]
    assert positions == sorted(positions)
    serve = source[source.index("    def serve(") : source.index("    def handle(")]
    assert serve.index("self.handle(self.api.read_next())") < serve.index(
        "self.api.send_next()\n            self._report"
    )
