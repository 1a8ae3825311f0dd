"""What scripts/build_layer.py puts in the layer zip (the layer running under RIE is tests/rie/test_layer.py): the
runtime and simplejson with their .pyc files for the interpreter given to --compile-with, and none of simplejson's own
test suite."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support import ROOT

TAG = sys.implementation.cache_tag  # e.g. cpython-311: the .pyc files --compile-with wrote for this interpreter


@pytest.fixture(scope="module")
def layer(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("layer") / "layer.zip"
    command = [sys.executable, str(ROOT / "scripts" / "build_layer.py"), str(out), "--compile-with", sys.executable]
    subprocess.run(command, check=True, timeout=300)
    return zipfile.ZipFile(out)


def test_the_layer_has_no_simplejson_tests(layer: zipfile.ZipFile) -> None:
    names = layer.namelist()
    assert "python/simplejson/__init__.py" in names  # the package itself is there: the check below is not vacuous
    assert [name for name in names if name.startswith("python/simplejson/tests/")] == []
    # The wheel's file list does not name the removed files either.
    [record] = [name for name in names if name.startswith("python/simplejson-") and name.endswith(".dist-info/RECORD")]
    assert "simplejson/tests/" not in layer.read(record).decode()


@pytest.mark.parametrize("module", ["runtime/main", "runtime/loop", "simplejson/__init__", "simplejson/decoder"])
def test_the_shipped_modules_are_compiled_for_the_given_interpreter(layer: zipfile.ZipFile, module: str) -> None:
    """Lambda's /opt is read-only: a module without its .pyc is compiled again at every cold start."""
    package, name = module.rsplit("/", 1)
    pyc = layer.read(f"python/{package}/__pycache__/{name}.{TAG}.pyc")
    flags = int.from_bytes(pyc[4:8], "little")
    assert flags == 0b01, flags  # hash-based, unchecked: valid whatever mtimes the unzipped files get


def test_every_source_file_has_its_pyc(layer: zipfile.ZipFile) -> None:
    names = set(layer.namelist())
    sources = [Path(name) for name in names if name.startswith("python/") and name.endswith(".py")]
    assert sources
    missing = [str(s) for s in sources if str(s.parent / "__pycache__" / f"{s.stem}.{TAG}.pyc") not in names]
    assert missing == []
