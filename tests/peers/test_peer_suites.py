"""Mangum's and apig-wsgi's own test suites against the web bridge, each failure declared in `expected.py`.

Each peer's sdist is fetched from the package index at its pinned version (cached in .cache/peers), and its suite
runs with pytest in a venv of its own (requirements.txt, cached by the file's digest), the clone's `runtime` on
PYTHONPATH and `peer_shim.py` behind the peer's constructor. A failure not in `expected.py` fails the build, and so does
an expected failure that passes: the list stays exact. Skipped, with pip's reason, only when the index cannot be
reached and nothing is cached.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.packaging import clean_env, make_venv
from tests.peers.expected import EXPECTED
from tests.support import ROOT

CACHE = ROOT / ".cache" / "peers"
REQUIREMENTS = Path(__file__).with_name("requirements.txt")


@pytest.fixture(scope="module")
def peer_python() -> Path:
    """The suites' venv: requirements.txt installed, rebuilt when that file changes."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:12]
    venv = CACHE / f"venv-{digest}"
    python = venv / "bin" / "python"
    if not (venv / ".installed").exists():
        shutil.rmtree(venv, ignore_errors=True)
        try:
            make_venv(venv, [], requirements=["-r", str(REQUIREMENTS)], index=True)
        except AssertionError as exc:
            _skip_if_unreachable(str(exc))
            raise
        (venv / ".installed").touch()
    return python


@pytest.mark.parametrize("peer", sorted(EXPECTED))
def test_the_peers_suite_passes_but_for_its_declared_failures(peer: str, peer_python: Path, tmp_path: Path) -> None:
    suite = _unpack(_sdist(_pinned(peer)), tmp_path)
    results_file = tmp_path / "results.json"
    # The shim is loaded by its own name, from its folder: the peer's suite has a package `tests` of its own.
    path = os.pathsep.join((str(ROOT), str(Path(__file__).parent), str(suite)))
    env = clean_env({"PEER": peer, "PEER_RESULTS": str(results_file), "PYTHONPATH": path})
    done = subprocess.run(
        [str(peer_python), "-m", "pytest", "-q", "-p", "peer_shim", "-p", "no:cacheprovider", "tests"],
        cwd=suite,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert results_file.exists(), f"the {peer} suite did not run ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    results: dict[str, dict[str, Any]] = json.loads(results_file.read_text())
    expected = EXPECTED[peer]
    through_bridge = {nodeid: result for nodeid, result in results.items() if result["bridge"]}
    failing = {nodeid: result for nodeid, result in through_bridge.items() if result["outcome"] != "passed"}
    undeclared = sorted(set(failing) - set(expected))
    now_passing = sorted(nodeid for nodeid in expected if through_bridge.get(nodeid, {}).get("outcome") == "passed")
    missing = sorted(nodeid for nodeid in expected if nodeid not in through_bridge)
    passed = len(through_bridge) - len(failing)
    print(f"{peer}: {len(results)} tests, {len(through_bridge)} through the bridge: {passed} pass, {len(failing)} fail")
    assert undeclared == [], "undeclared failures:\n" + "\n".join(
        f"{nodeid}: {failing[nodeid]['message']}" for nodeid in undeclared
    )
    assert now_passing == [], f"declared failures that pass now (take them out of expected.py): {now_passing}"
    assert missing == [], f"declared failures that no longer run through the bridge: {missing}"


def test_docs_web_md_lists_every_declared_difference_with_its_count() -> None:
    # docs/web.md's table of the suites' declared differences: one row per key, with the failing tests per suite.
    text = (ROOT / "docs" / "web.md").read_text()
    rows = {
        match[0]: (int(match[1]), int(match[2]))
        for match in re.findall(r"^\| `([a-z0-9-]+)` \|.*\| (\d+) \| (\d+) \|$", text, re.M)
    }
    counts = {peer: Counter(reason.key for reason in failures.values()) for peer, failures in EXPECTED.items()}
    declared = {
        reason.key for failures in EXPECTED.values() for reason in failures.values() if reason.kind == "declared"
    }
    assert rows == {key: (counts["mangum"][key], counts["apig-wsgi"][key]) for key in declared}


def _pinned(name: str) -> str:
    """`name==version`, as requirements.txt pins it."""
    for line in REQUIREMENTS.read_text().splitlines():
        if line.startswith(f"{name}=="):
            return line.strip()
    raise AssertionError(f"{REQUIREMENTS.name} pins no version of {name}")


def _sdist(requirement: str) -> Path:
    """The peer's sdist, from the cache or fetched with pip."""
    name, version = requirement.split("==")
    stem = f"{name.replace('-', '_')}-{version}"
    cached = CACHE / "sdists" / f"{stem}.tar.gz"
    if not cached.exists():
        cached.parent.mkdir(parents=True, exist_ok=True)
        download = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:"]
        done = subprocess.run(
            [*download, "--dest", str(cached.parent), requirement],
            capture_output=True,
            text=True,
            timeout=300,
            env=clean_env(),
        )
        if done.returncode != 0:
            _skip_if_unreachable(done.stderr)
            raise AssertionError(f"pip download {requirement} failed:\n{done.stderr}")
    return cached


def _unpack(sdist: Path, into: Path) -> Path:
    with tarfile.open(sdist) as archive:
        archive.extractall(into, filter="data")
    [folder] = [path for path in into.iterdir() if path.is_dir()]
    return folder


def _skip_if_unreachable(pip_output: str) -> None:
    markers = ("Could not fetch URL", "NewConnectionError", "Temporary failure in name resolution", "unreachable")
    if any(marker in pip_output for marker in markers):
        pytest.skip(f"the package index cannot be reached: {pip_output.strip().splitlines()[-1]}")
