"""Build the project's distributions and install them where a user would: in a fresh venv outside the repository.

For tests of the adoption path (issue 23): what a user gets from `pip install`, not what the clone has on sys.path.

    wheels = build_wheels(tmp_path / "wheels")            # {"lambda-after-response-runtime": .../x.whl, ...}
    python = make_venv(tmp_path / "venv", wheels.values())
    subprocess.run([python.parent / "lambda-emulator", "invoke", ...], env=clean_env(), cwd=tmp_path)

Both use pip's ordinary client and configuration. The wheels are built with build isolation, as `pip install` from a
clone or a git URL builds them: pip gets the build backend (hatchling) from the configured index or its cache; the
project's .venv needs none. The dependencies' wheels (simplejson) are fetched into the same folder once, so that
`make_venv` installs without the index (--no-index --find-links). Each call costs a few seconds: share the result in a
module- or session-scoped fixture.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from tests.support import ROOT

#: the project's distributions: name -> the folder holding its pyproject.toml
PROJECTS: Mapping[str, Path] = {
    "lambda-after-response-runtime": ROOT,
    "lambda-after-response-emulator": ROOT / "emulator",
}


def build_wheels(into: Path, projects: Mapping[str, Path] = PROJECTS, *, dependencies: bool = True) -> dict[str, Path]:
    """Build each of `projects` (default: the runtime and the emulator, from the working tree) into the folder `into`
    with `pip wheel`; {distribution name: its wheel}. With `dependencies`, the wheels of their dependencies from the
    index are put in `into` too (not in the result), so that `make_venv(..., find_links=[into])` needs no index.

    The projects are built in one pip run, so one project's dependency on another (the emulator's on the runtime) is
    met by the local build, not looked up in the index.
    """
    into.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(into)]
    if not dependencies:
        command.append("--no-deps")
    _pip(command + [str(folder) for folder in projects.values()])
    built: dict[str, Path] = {}
    for wheel in sorted(into.glob("*.whl"), key=lambda wheel: wheel.stat().st_mtime_ns):  # the newest build wins
        name = wheel_metadata(wheel)["Name"]
        if name in projects:
            built[name] = wheel
    missing = set(projects) - set(built)
    if missing:
        raise AssertionError(f"pip built no wheel for {sorted(missing)} in {into}")
    return built


def make_venv(
    path: Path,
    wheels: Iterable[Path],
    *,
    requirements: Sequence[str] = (),
    find_links: Sequence[Path] = (),
    index: bool = False,
    dependencies: bool = True,
) -> Path:
    """A new virtual environment at `path` (outside the repository, so that nothing of the clone is on its sys.path)
    with `wheels` installed, and `requirements` (pip requirement strings); returns its interpreter,
    `path/bin/python`, whose folder holds the installed commands (`lambda-emulator`, `after-response-runtime`).

    Dependencies are found in the wheels' folders and `find_links`; with `index`, in pip's configured index too (a
    user project's own dependencies, say). Without `dependencies`, only what is named is installed (--no-deps). The
    venv gets no pip of its own: the test process's pip installs into it (`pip --python`), which saves the seconds
    ensurepip takes.
    """
    wheels = list(wheels)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=120)
    python = path / "bin" / "python"
    links = dict.fromkeys([*(wheel.parent for wheel in wheels), *find_links])
    command = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"]
    if not index:
        command.append("--no-index")
    if not dependencies:
        command.append("--no-deps")
    for folder in links:
        command += ["--find-links", str(folder)]
    _pip(command + [str(wheel) for wheel in wheels] + list(requirements))
    return python


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without what would reach into the clone or into Lambda's settings: no PYTHONPATH,
    no AWS_*/RUNTIME_*/Lambda variables, no coverage start-up. For the commands of a venv from `make_venv`."""
    dropped = ("AWS_", "_LAMBDA", "_X_AMZN", "RUNTIME_", "_HANDLER", "COVERAGE_", "PYTHON", "VIRTUAL_ENV")
    env = {key: value for key, value in os.environ.items() if not key.startswith(dropped)}
    env.update(extra or {})
    return env


def wheel_metadata(wheel: Path) -> dict[str, str]:
    """A wheel's METADATA headers: the first value of each (Name, Version, Requires-Python...)."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(item for item in archive.namelist() if item.endswith(".dist-info/METADATA"))
        text = archive.read(name).decode()
    headers: dict[str, str] = {}
    for line in text.split("\n\n", 1)[0].splitlines():
        key, sep, value = line.partition(": ")
        if sep and key not in headers:
            headers[key] = value
    return headers


def wheel_files(wheel: Path) -> list[str]:
    """The paths inside a wheel."""
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def _pip(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=clean_env(), cwd=ROOT)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
