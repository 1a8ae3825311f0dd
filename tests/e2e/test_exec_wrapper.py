"""AWS_LAMBDA_EXEC_WRAPPER, through both bootstraps: the shell one (zips) and the Python one the image ships.

The wrapper gets the interpreter command and its arguments, as the managed Python runtimes hand them over (docs/
platform.md §5.8): one wrapper sets a variable and execs "$@"; one in the style of ADOT's `otel-instrument` puts a
directory with a `sitecustomize.py` on PYTHONPATH, so that code runs at interpreter start before the runtime.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from bench.runs import image_bootstrap
from emulator.server import LambdaApiServer
from runtime.main import BOOTSTRAP_CODE
from tests.support import BOOTSTRAP, ROOT, Process, base_env

SET_VARIABLE = '#!/bin/sh\nexport WRAPPED_BY="$(basename "$0")"\nexec "$@"\n'


def otel_style(probe_dir: Path) -> str:
    return f'#!/bin/sh\nexport WRAPPED_BY=otel\nexport PYTHONPATH="{probe_dir}:$PYTHONPATH"\nexec "$@"\n'


def image_style_bootstrap(tmp_path: Path) -> Path:
    """The image's bootstrap (a Python script, the Dockerfile's text) next to the runtime package, as in
    /var/runtime."""
    folder = tmp_path / "var-runtime"
    folder.mkdir()
    (folder / "runtime").symlink_to(ROOT / "runtime")
    script = folder / "bootstrap"
    script.write_text(image_bootstrap(sys.executable))
    script.chmod(0o755)
    return script


def script(path: Path, text: str, mode: int = 0o755) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def serve_one(api: LambdaApiServer, bootstrap: Path, wrapper: Path) -> dict[str, object]:
    env = base_env({"AWS_LAMBDA_RUNTIME_API": api.address, "AWS_LAMBDA_EXEC_WRAPPER": str(wrapper)})
    process = Process([str(bootstrap), "wrapped.handler"], env)
    try:
        result = api.invoke(b"{}").json()
        assert isinstance(result, dict), process.output()
        return result
    finally:
        process.stop()


@pytest.mark.parametrize("kind", ["shell", "image"])
def test_a_wrapper_gets_the_interpreter_command_and_runs_it(api: LambdaApiServer, tmp_path: Path, kind: str) -> None:
    bootstrap = BOOTSTRAP if kind == "shell" else image_style_bootstrap(tmp_path)
    result = serve_one(api, bootstrap, script(tmp_path / "set-variable", SET_VARIABLE))
    assert result == {"wrapped": "set-variable", "instrumented": False, "executable": sys.executable}


@pytest.mark.parametrize("kind", ["shell", "image"])
def test_an_otel_instrument_style_wrapper_runs_code_at_interpreter_start(
    api: LambdaApiServer, tmp_path: Path, kind: str
) -> None:
    probe_dir = tmp_path / "instrumentation"
    probe_dir.mkdir()
    (probe_dir / "sitecustomize.py").write_text("import instrumentation_probe\n")
    (probe_dir / "instrumentation_probe.py").write_text("")
    bootstrap = BOOTSTRAP if kind == "shell" else image_style_bootstrap(tmp_path)
    result = serve_one(api, bootstrap, script(tmp_path / "otel-instrument", otel_style(probe_dir)))
    assert result == {"wrapped": "otel", "instrumented": True, "executable": sys.executable}


@pytest.mark.parametrize("kind", ["shell", "image"])
@pytest.mark.parametrize(
    ("problem", "status"), [("missing", 127), ("not-executable", 126)], ids=["missing", "not-executable"]
)
def test_a_wrapper_that_cannot_run_stops_start_up_as_the_managed_bootstrap_does(
    tmp_path: Path, kind: str, problem: str, status: int
) -> None:
    wrapper = tmp_path / "wrapper"
    if problem == "not-executable":
        script(wrapper, SET_VARIABLE, mode=0o644)
    bootstrap = BOOTSTRAP if kind == "shell" else image_style_bootstrap(tmp_path)
    env = base_env({"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9", "AWS_LAMBDA_EXEC_WRAPPER": str(wrapper)})
    process = Process([str(bootstrap), "wrapped.handler"], env)
    try:
        assert process.wait() == status
        expected = "does not exist" if problem == "missing" else "is not an executable"
        assert process.output() == f"{wrapper}: {expected}\n"
    finally:
        process.stop()


def test_both_bootstraps_hand_the_wrapper_the_same_command() -> None:
    shell_code = re.search(r"^code='(.*)'$", BOOTSTRAP.read_text(), re.MULTILINE)
    assert shell_code is not None and shell_code.group(1) == BOOTSTRAP_CODE
