"""The emulator as a user installs it (issue 23): its own wheel, beside the runtime's in the function's own venv, run
as `lambda-emulator` against a function folder outside the repository, on the runtime installed there."""

from __future__ import annotations

import json
import subprocess
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.packaging import build_wheels, clean_env, make_venv, wheel_files, wheel_metadata
from tests.support import ROOT

RUNTIME = "lambda-after-response-runtime"
EMULATOR = "lambda-after-response-emulator"

APP = """\
import sys

from runtime import after_response


def handler(event, context):
    return {
        "message": f"Hello, {event['name']}!",
        "argv0": sys.argv[0],
        "runtime": sys.modules["runtime"].__file__,
        "function_name": context.function_name,
        "arn": context.invoked_function_arn,
    }


@after_response
def mark(invocation):
    with open("after-response.txt", "w") as f:
        f.write(invocation.request_id)
"""


@dataclass
class Installed:
    wheels: dict[str, Path]
    python: Path  # the venv's interpreter; its folder holds lambda-emulator
    base: Path  # a temporary folder outside the repository


@pytest.fixture(scope="module")
def installed() -> Iterator[Installed]:
    # Not tmp_path_factory: its folder could be under the repository (--basetemp); this one is outside it for sure.
    with tempfile.TemporaryDirectory(prefix="emulator-dist-") as folder:
        base = Path(folder)
        assert not base.resolve().is_relative_to(ROOT)
        wheels = build_wheels(base / "wheels")
        yield Installed(wheels, make_venv(base / "venv", wheels.values()), base)


def _function(base: Path, name: str) -> Path:
    task_root = base / name
    task_root.mkdir()
    (task_root / "app.py").write_text(APP)
    return task_root


def test_the_emulator_wheel_holds_the_emulator_package_and_the_runtime_wheel_none(installed: Installed) -> None:
    emulator, runtime = installed.wheels[EMULATOR], installed.wheels[RUNTIME]
    files = wheel_files(emulator)
    package = sorted(f for f in files if not f.startswith("lambda_after_response_emulator-0.2.0.dist-info/"))
    assert package == [
        "emulator/__init__.py",
        "emulator/__main__.py",
        "emulator/cli.py",
        "emulator/environment.py",
        "emulator/server.py",
        "emulator/timeline.py",
    ]
    metadata = wheel_metadata(emulator)
    assert (metadata["Name"], metadata["Version"], metadata["Requires-Python"]) == (EMULATOR, "0.2.0", ">=3.11")
    assert metadata["Requires-Dist"] == RUNTIME
    with zipfile.ZipFile(emulator) as archive:
        entry_points = archive.read("lambda_after_response_emulator-0.2.0.dist-info/entry_points.txt").decode()
    assert "lambda-emulator = emulator.cli:run" in entry_points
    assert not [f for f in wheel_files(runtime) if f.startswith("emulator/")]


def test_lambda_emulator_runs_a_function_folder_on_the_runtime_installed_beside_it(installed: Installed) -> None:
    task_root = _function(installed.base, "function")
    bin_folder = installed.python.parent
    done = subprocess.run(
        [str(bin_folder / "lambda-emulator"), "invoke", "app.handler", "--task-root", str(task_root),
         "--event", '{"name": "Ada"}', "--function-name", "orders-api"],
        cwd=installed.base, env=clean_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    response_line, *timeline = done.stdout.splitlines()
    response = json.loads(response_line.removeprefix("response: "))
    assert response["message"] == "Hello, Ada!"
    # The after-response phase ran: its hook wrote the request id, and the timeline shows it.
    request_id = (task_root / "after-response.txt").read_text()
    assert timeline[0] == f"timeline {request_id}"
    assert "app.mark (ok" in done.stdout
    # The installed runtime ran (its command, its package), not the clone's bootstrap or runtime/.
    site_packages = installed.base / "venv" / "lib"
    assert Path(response["runtime"]).is_relative_to(site_packages), response
    script = bin_folder / "after-response-runtime"
    if script.exists():  # the runtime's wheel installs its command
        assert response["argv0"] == str(script)
    else:  # else the emulator runs `python -m runtime`
        assert Path(response["argv0"]).is_relative_to(site_packages), response
    assert response["function_name"] == "orders-api"
    assert response["arn"].endswith(":function:orders-api")


def test_lambda_emulator_names_itself_in_its_help(installed: Installed) -> None:
    done = subprocess.run([str(installed.python.parent / "lambda-emulator"), "serve", "--help"],
                          env=clean_env(), capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0
    assert done.stdout.startswith("usage: lambda-emulator serve ")
    assert "--watch" in done.stdout and "--runtime COMMAND" in done.stdout


def test_without_the_runtime_installed_the_emulator_says_what_to_install(installed: Installed) -> None:
    python = make_venv(installed.base / "emulator-only", [installed.wheels[EMULATOR]], dependencies=False)
    task_root = _function(installed.base, "lonely")
    done = subprocess.run(
        [str(python.parent / "lambda-emulator"), "invoke", "app.handler", "--task-root", str(task_root)],
        cwd=installed.base, env=clean_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: no runtime to start: {RUNTIME} is not installed in this environment")
    assert f"pip install {RUNTIME}" in done.stderr and "--runtime" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
