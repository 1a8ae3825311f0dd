"""The adoption path, as a user walks it (issue 23): a function project of their own, outside the repository, that
installs the runtime and its emulator from wheels built from the repository, invokes its function in the emulator,
runs its unit test with `runtime.testing.invoke`, then builds its image from its own Dockerfile and invokes it under
the image's RIE.

The steps are not written here: they are the commands of examples/project/README.md, run in order in a copy of that
folder made outside the repository. `docker` commands run as their buildah equivalent (tests/images explains why),
on the stand-in base image with its Python; a command this test does not know fails it, so the README cannot
rot. The local steps need pip's configured index (the build backend, simplejson, pytest), as a user's do.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.adoption.shell import Command, commands
from tests.images.test_images import BUILD_TIMEOUT_S, IMAGE_PREFIX, Tools, buildah, tools, under_rie
from tests.support import ROOT

__all__ = ["tools"]  # the image tests' session fixture: the stand-in base image, or a skip saying why

PROJECT = ROOT / "examples" / "project"
STEPS = commands(PROJECT / "README.md")
LOCAL_STEP_TIMEOUT_S = 300.0
IMPORTED_FROM = "import emulator, runtime; print(emulator.__file__, runtime.__file__)"


@dataclass
class Walk:
    folder: Path  # the copy of examples/project, outside the repository
    outputs: dict[str, str] = field(default_factory=dict)  # local command line -> its output
    image_steps: list[Command] = field(default_factory=list)  # the docker and curl commands, for the image test


def _env(folder: Path) -> dict[str, str]:
    """The user's shell: no trace of the repository's own environment, `python3` the interpreter of this test run."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["CLONE"] = str(ROOT)
    env["PWD"] = str(folder)
    return env


@pytest.fixture(scope="module")
def walk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Walk]:
    """The README's local commands, run in order in a fresh copy of the project; stops at the first that fails."""
    folder = tmp_path_factory.mktemp("user-home") / "orders"
    shutil.copytree(PROJECT, folder, ignore=shutil.ignore_patterns("__pycache__", ".venv", "vendor", ".pytest_cache"))
    assert not folder.is_relative_to(ROOT)
    walked = Walk(folder)
    for step in STEPS:
        if step.words[0] in ("docker", "curl"):
            walked.image_steps.append(step)
            continue
        if step.words[0] != "python3" and not step.words[0].startswith(".venv/bin/"):
            pytest.fail(f"examples/project/README.md runs a command this test does not know: {step}")
        done = subprocess.run(
            ["bash", "-c", step.line],
            cwd=folder,
            env=_env(folder),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,  # one pipe: the lines in the order they were written
            text=True,
            timeout=LOCAL_STEP_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
        output = done.stdout
        assert done.returncode == 0, f"`{step}` failed ({done.returncode}):\n{output}"
        walked.outputs[step.line] = output
    yield walked


def _output_of(walk: Walk, program: str) -> str:
    [output] = [output for line, output in walk.outputs.items() if line.startswith(program)]
    return output


def test_the_user_invokes_and_tests_the_function_from_their_own_venv(walk: Walk) -> None:
    # The emulator and the runtime are the installed ones, in the project's venv, not the repository's.
    installed = subprocess.run(
        [str(walk.folder / ".venv/bin/python"), "-c", IMPORTED_FROM],
        cwd=walk.folder,
        env=_env(walk.folder),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert all(Path(path).is_relative_to(walk.folder / ".venv") for path in installed), installed
    assert (walk.folder / ".venv/bin/after-response-runtime").is_file()

    invoked = _output_of(walk, ".venv/bin/lambda-emulator")
    assert 'response: {"status": "accepted", "order_id": "o-1"}' in invoked, invoked
    assert "order event sent for o-1" in invoked and "metrics: 1 accepted, last ok=True" in invoked, invoked
    # The emulator's timeline: the caller had the answer before the deferred call and the hook ran (the log lines
    # are relayed by another thread: their place among the emulator's own lines says nothing).
    timeline = [
        invoked.index(line)
        for line in ("response posted: the caller has it", "app.send_order_event (ok", "app.flush_metrics (ok")
        if line in invoked
    ]
    assert len(timeline) == 3 and timeline == sorted(timeline), invoked

    tested = _output_of(walk, ".venv/bin/python -m pytest")
    assert re.search(r"\b1 passed\b", tested), tested


def test_the_user_builds_their_image_and_invokes_it_under_the_rie(walk: Walk, tools: Tools) -> None:
    name = IMAGE_PREFIX + "user-project"
    built = False
    try:
        running = None
        for step in walk.image_steps:
            words = step.words
            if words[:2] == ("docker", "build"):
                # The README's build, on the stand-in base with its Python (a build argument the Dockerfile offers).
                platform = words[words.index("--platform") + 1]
                assert platform == "linux/amd64", step
                done = subprocess.run(
                    [
                        *("buildah", "bud", "--isolation", "chroot", "--network", "host", "--no-cache", "--force-rm"),
                        *("--platform", platform, "--build-arg", f"BASE_IMAGE={tools.standin}"),
                        *("--build-arg", f"PYTHON_VERSION={tools.python_version}", "-t", name, "."),
                    ],
                    cwd=walk.folder,
                    capture_output=True,
                    text=True,
                    timeout=BUILD_TIMEOUT_S,
                    stdin=subprocess.DEVNULL,
                )
                built = True
                assert done.returncode == 0, f"`{step}` failed:\n{done.stdout[-6000:]}\n{done.stderr}"
            elif words[:2] == ("docker", "run"):
                assert words[-1] == "orders" and "9000:8080" in words, step
                running = under_rie(name)
            elif words[0] == "curl":
                assert running is not None, f"`{step}` before the container runs"
                event = words[words.index("-d") + 1]
                with running as rie:
                    status, body = rie.invoke(json.loads(event))
                    assert (status, body) == (200, {"status": "accepted", "order_id": "o-1"}), rie.running.output()
                    # After the response, in the same process: the deferred call, then the hook.
                    rie.running.wait_for_output(lambda output: "metrics: 1 accepted, last ok=True" in output)
                    output = rie.running.output()
                    assert output.index("order event sent for o-1") < output.index("metrics: 1 accepted"), output
                running = None
            else:
                pytest.fail(f"examples/project/README.md runs a command this test does not know: {step}")
        assert built and running is None, [str(step) for step in walk.image_steps]
    finally:
        if built:
            buildah("rmi", name, check=False)
