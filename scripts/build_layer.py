"""Build the Lambda layer that runs this runtime on the managed Python runtimes (python3.12 to python3.14, and the
python3.15 preview).

Usage: python scripts/build_layer.py OUT.zip [--compile-with PYTHON ...]

The zip, unzipped by Lambda into /opt:
- `after-response`: the wrapper script. With `AWS_LAMBDA_EXEC_WRAPPER=/opt/after-response`, the managed bootstrap
  runs it with its interpreter and arguments (docs/platform.md §5.8); it execs that interpreter on this runtime's
  loop instead of awslambdaric's.
- `python/`: the `runtime` package and simplejson (its pure-Python wheel: one layer for every Python version and
  both architectures), without simplejson's test suite. `--compile-with` writes `.pyc` files for each interpreter
  given (Lambda's /opt is read-only: without them every cold start compiles the runtime again).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runtime.main import BOOTSTRAP_CODE  # noqa: E402  (the repository's runtime, whatever is installed)

WRAPPER = "after-response"
SIMPLEJSON = "simplejson>=3.19,<5"  # pyproject.toml's range


def wrapper_script() -> str:
    return f"""#!/bin/sh
# AWS_LAMBDA_EXEC_WRAPPER=/opt/{WRAPPER} on a managed Python runtime: the managed bootstrap runs this script with its
# interpreter first, then that interpreter's arguments (its own bootstrap.py, which would start awslambdaric). This
# runs the interpreter on the after-response runtime's loop instead, with this layer's python/ first on sys.path; the
# handler comes from _HANDLER, as for awslambdaric.
layer="${{0%/*}}"
exec "$1" -u -c '{BOOTSTRAP_CODE}' "$layer/python"
"""


def drop_simplejson_tests(python_dir: Path) -> None:
    """simplejson's wheel ships its own test suite (simplejson/tests/, about 40 modules): nothing imports it at run
    time, so it goes, before compiling, and out of the wheel's RECORD too (which would list files that are not there).
    """
    shutil.rmtree(python_dir / "simplejson" / "tests", ignore_errors=True)
    for record in python_dir.glob("simplejson-*.dist-info/RECORD"):
        lines = record.read_text().splitlines(keepends=True)
        record.write_text("".join(line for line in lines if not line.startswith("simplejson/tests/")))


def build(out: Path, compilers: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp)
        python_dir = staging / "python"
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
             "--no-compile", "--only-binary=:all:", "--platform", "any", "--implementation", "py",
             "--python-version", "3.12", "--target", str(python_dir), SIMPLEJSON],
            check=True,
        )  # fmt: skip
        shutil.rmtree(python_dir / "bin", ignore_errors=True)
        drop_simplejson_tests(python_dir)
        shutil.copytree(ROOT / "runtime", python_dir / "runtime", ignore=shutil.ignore_patterns("__pycache__"))
        for python in compilers:
            subprocess.run(
                [python, "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash", str(python_dir)],
                check=True,
            )
        wrapper = staging / WRAPPER
        wrapper.write_text(wrapper_script())
        out.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(staging.rglob("*")):
                if path.is_dir():
                    continue
                info = zipfile.ZipInfo(str(path.relative_to(staging)), date_time=(2026, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                mode = 0o755 if path == wrapper else 0o644
                info.external_attr = (0o100000 | mode) << 16  # a regular file with these permissions
                archive.writestr(info, path.read_bytes())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--compile-with", action="append", default=[], metavar="PYTHON")
    args = parser.parse_args()
    build(args.out, args.compile_with)
    print(f"layer: {args.out} ({args.out.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
