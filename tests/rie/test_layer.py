"""The layer for the managed Python runtimes (scripts/build_layer.py), on a stand-in of their layout, under the real
RIE: the interpreter at /var/lang/bin, a managed-style /var/runtime/bootstrap that applies AWS_LAMBDA_EXEC_WRAPPER
as the managed runtimes' does (and otherwise starts awslambdaric from /var/runtime/bootstrap.py), the layer unzipped
in /opt, the function in /var/task. The stand-in lives in a temporary folder; its paths keep those names.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import awslambdaric
import pytest

from tests.support import ROOT, Rie, base_env

pytestmark = pytest.mark.rie

VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"

# The managed runtimes' bootstrap (the public images' /var/runtime/bootstrap), with this stand-in's root.
MANAGED_BOOTSTRAP = """#!/bin/bash
export AWS_EXECUTION_ENV=AWS_Lambda_python{version}
if [ -z "$AWS_LAMBDA_EXEC_WRAPPER" ]; then
  exec {root}/var/lang/bin/python{version} {root}/var/runtime/bootstrap.py
else
  wrapper="$AWS_LAMBDA_EXEC_WRAPPER"
  if [ ! -f "$wrapper" ]; then
    echo "$wrapper: does not exist"
    exit 127
  fi
  if [ ! -x "$wrapper" ]; then
    echo "$wrapper: is not an executable"
    exit 126
  fi
  exec -- "$wrapper" {root}/var/lang/bin/python{version} {root}/var/runtime/bootstrap.py
fi
"""
# The managed runtime's own loop: awslambdaric, which it ships in /var/runtime (here: the test environment's copy).
MANAGED_BOOTSTRAP_PY = """import os, runpy, sys
sys.path.append({awslambdaric_dir!r})
sys.path.insert(0, os.environ["LAMBDA_TASK_ROOT"])  # the function's code is importable, as on Lambda
sys.argv = ["awslambdaric", os.environ["_HANDLER"]]
runpy.run_module("awslambdaric", run_name="__main__")
"""
FUNCTION = """import os, sys
from runtime import after_response, defer

@after_response
def hook(invocation):
    print("hook ran for", invocation.request_id, flush=True)

def handler(event, context):
    defer(print, "deferred ran", flush=True)
    main = sys.modules.get("runtime.main")
    return {"loop": "after-response" if main else "awslambdaric",
            "python": sys.executable, "first_path": sys.path[0],
            "compiled": bool(main) and main.__spec__.cached is not None and os.path.exists(main.__spec__.cached)}
"""


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("managed")
    layer = root / "layer.zip"
    # .pyc files for the interpreter the tests run on (make test-pythons: 3.12 to 3.15), as `make layer` compiles them.
    command = [sys.executable, str(ROOT / "scripts" / "build_layer.py"), str(layer), "--compile-with", sys.executable]
    subprocess.run(command, check=True, timeout=300)
    opt = root / "opt"
    with zipfile.ZipFile(layer) as archive:
        for info in archive.infolist():
            archive.extract(info, opt)
            (opt / info.filename).chmod(info.external_attr >> 16 & 0o777)  # zipfile does not restore modes
    (root / "var" / "lang" / "bin").mkdir(parents=True)
    (root / "var" / "lang" / "bin" / f"python{VERSION}").symlink_to(sys.executable)
    runtime_dir = root / "var" / "runtime"
    runtime_dir.mkdir()
    bootstrap = runtime_dir / "bootstrap"
    bootstrap.write_text(MANAGED_BOOTSTRAP.format(version=VERSION, root=root))
    bootstrap.chmod(0o755)
    awslambdaric_dir = str(Path(awslambdaric.__file__).parent.parent)
    (runtime_dir / "bootstrap.py").write_text(MANAGED_BOOTSTRAP_PY.format(awslambdaric_dir=awslambdaric_dir))
    (root / "var" / "task").mkdir()
    (root / "var" / "task" / "app.py").write_text(FUNCTION)
    return root


@contextlib.contextmanager
def managed(root: Path, wrapper: bool) -> Iterator[Rie]:
    env = base_env(
        {"_HANDLER": "app.handler", "LAMBDA_RUNTIME_DIR": str(root / "var" / "runtime")}, root / "var" / "task"
    )
    # The managed runtime puts /opt/python on the path for every function; this runtime's wrapper puts it first.
    env["PYTHONPATH"] = str(root / "opt" / "python")
    # /opt is read-only on Lambda: no .pyc is written there, whatever this machine's environment says (as root, a
    # read-only mode would not stop the writes).
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if wrapper:
        env["AWS_LAMBDA_EXEC_WRAPPER"] = str(root / "opt" / "after-response")
    emulator = Rie([str(root / "var" / "runtime" / "bootstrap")], env, cwd=root / "var" / "task")
    try:
        yield emulator
    finally:
        emulator.stop()


def test_the_wrapper_runs_this_runtimes_loop_on_the_managed_interpreter(standin: Path) -> None:
    with managed(standin, wrapper=True) as rie:
        status, body = rie.invoke({})
        assert status == 200, rie.process.output()
        result = json.loads(body)
        assert result == {
            "loop": "after-response",
            "python": str(standin / "var" / "lang" / "bin" / f"python{VERSION}"),
            "first_path": str(standin / "opt" / "python"),
            "compiled": True,  # the layer's own .pyc for this interpreter: /opt is read-only on Lambda
        }
        status, _ = rie.invoke({})  # RIE answers once the runtime asked for the next event: the phase has run
        output = rie.process.output()
    assert status == 200
    assert output.count("deferred ran") >= 1 and "hook ran for" in output
    assert "after-response: 2 ran" in output


def test_without_the_wrapper_the_managed_runtime_serves_it_and_says_so(standin: Path) -> None:
    with managed(standin, wrapper=False) as rie:
        status, body = rie.invoke({})
        output = rie.process.output()
    assert status == 200, output
    assert json.loads(body)["loop"] == "awslambdaric"
    assert "this function is served by another runtime" in output  # one warning; defer() ran its work at once
    assert "deferred ran" in output and "hook ran for" not in output
