"""Fetch the AWS Runtime Interface Emulator binary from the aws-sam-cli wheel into a cache folder.

Usage: python scripts/fetch_rie.py DEST. The binary is never committed; `make test` calls this once.
"""

from __future__ import annotations

import platform
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

SAM_CLI = "aws-sam-cli==1.170.0"


def main(dest: Path) -> None:
    arch = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}[platform.machine().lower()]
    member = f"samcli/local/rapid/aws-lambda-rie-{arch}"
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", tmp, SAM_CLI], check=True
        )
        wheel = next(Path(tmp).glob("aws_sam_cli-*.whl"))
        dest.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheel) as archive:
            dest.write_bytes(archive.read(member))
    dest.chmod(dest.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    print(f"{dest}: {member} from {wheel.name}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
