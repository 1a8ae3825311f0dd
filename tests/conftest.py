from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import pytest

from emulator.server import LambdaApiServer
from tests.rawserver import RawServer, Script
from tests.support import Process, start_runtime

StartRuntime = Callable[..., Process]


@pytest.fixture
def api() -> Iterator[LambdaApiServer]:
    with LambdaApiServer(timeout_s=30) as server:
        yield server


@pytest.fixture
def start(api: LambdaApiServer, request: pytest.FixtureRequest) -> Iterator[StartRuntime]:
    """Start the real bootstrap against the `api` server; its output is printed when the test fails."""
    processes: list[Process] = []

    def run(handler: str, env: Mapping[str, str] | None = None, runtime: str = "bootstrap") -> Process:
        process = start_runtime(api.address, handler, env, runtime)
        processes.append(process)
        return process

    yield run
    for process in processes:
        print(f"--- output of pid {process.pid} ---\n{process.output()}")
        process.stop()


@pytest.fixture
def raw_api() -> Iterator[Callable[[Script], RawServer]]:
    """Start loopback servers that answer each connection with a script (closed at teardown)."""
    servers: list[RawServer] = []

    def start(script: Script) -> RawServer:
        servers.append(RawServer(script))
        return servers[-1]

    yield start
    for server in servers:
        server.close()
