"""Which runtime the emulator starts (emulator/environment.py `find_bootstrap`), and what --watch looks at."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from emulator import environment
from emulator.environment import RuntimeNotFound, find_bootstrap, python_sources
from tests.support import BOOTSTRAP


def test_in_the_clone_it_is_the_repository_bootstrap() -> None:
    assert find_bootstrap() == [str(BOOTSTRAP)]


def _installed_at(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, runtime: str | None) -> Path:
    """Pretend the emulator is installed in a venv at tmp_path, with `runtime` ("script", "package" or None)."""
    site = tmp_path / "lib" / "site-packages"
    (site / "emulator").mkdir(parents=True)
    monkeypatch.setattr(environment, "__file__", str(site / "emulator" / "environment.py"))
    bin_folder = tmp_path / "bin"
    bin_folder.mkdir()
    monkeypatch.setattr(sys, "executable", str(bin_folder / "python"))
    packages = tmp_path / "packages"
    (packages / "runtime").mkdir(parents=True)
    (packages / "runtime" / "__init__.py").write_text("")
    if runtime == "script":
        script = bin_folder / "after-response-runtime"
        script.write_text("#!/bin/sh\n")
        script.chmod(0o755)
    if runtime == "package":
        (packages / "runtime" / "main.py").write_text("")
    # Only this folder is searched for a `runtime` package: the clone's is not on the path.
    monkeypatch.setattr(sys, "path", [str(packages)])
    monkeypatch.delitem(sys.modules, "runtime", raising=False)
    return bin_folder


def test_installed_it_is_the_runtime_command_beside_the_interpreter(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bin_folder = _installed_at(monkeypatch, tmp_path, "script")
    assert find_bootstrap() == [str(bin_folder / "after-response-runtime")]


def test_installed_without_the_command_it_is_the_runtime_package(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bin_folder = _installed_at(monkeypatch, tmp_path, "package")
    assert find_bootstrap() == [str(bin_folder / "python"), "-u", "-m", "runtime"]


def test_installed_without_a_runtime_it_says_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # A `runtime` package that is not this runtime (no main.py) does not count.
    _installed_at(monkeypatch, tmp_path, None)
    with pytest.raises(RuntimeNotFound, match=r"pip install lambda-after-response-runtime.*--runtime"):
        find_bootstrap()


def test_watch_looks_at_the_functions_python_files_only(tmp_path: Path) -> None:
    for name in ["app.py", "pkg/mod.py", "pkg/data.json", "__pycache__/app.cpython-311.py", ".hidden/x.py",
                 "venv/lib/site.py", "venv/pyvenv.cfg", "node_modules/a.py", "deps/site-packages/b.py"]:  # fmt: skip
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x = 1\n")
    assert sorted(python_sources(tmp_path)) == ["app.py", "pkg/mod.py"]
