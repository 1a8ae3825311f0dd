"""Layout rules ruff cannot check: where Runtime API names live.

Which modules may open sockets or speak HTTP, that the runtime never imports the emulator, and which modules must
not be imported at module level (cold start) are ruff rules (pyproject.toml, TID251 and TID253).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
API_NAMES = re.compile(r"/2018-06-01|/2020-01-01|Lambda-Runtime-|Lambda-Extension-", re.IGNORECASE)


def knowing(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.glob("*.py") if API_NAMES.search(path.read_text()))


def test_only_api_knows_runtime_api_paths_and_headers() -> None:
    assert knowing(ROOT / "runtime") == ["api.py"]


def test_the_emulator_has_one_module_on_the_server_side() -> None:
    assert knowing(ROOT / "emulator") == ["server.py"]
