"""Every command the README tells its reader to run is run by a test, so the README cannot rot.

Each command of README.md's ```sh blocks must be one of: a command of examples/project/README.md (run, in order,
by test_user_project.py), `make run` (run here), or one listed in COVERED with the test that runs it or its
equivalent here (`docker` as buildah; `sam`/`cdk` need an AWS account, so their templates are checked offline). A
command in none of these fails this test, and so does a COVERED entry whose test no longer exists.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.adoption.shell import Command, commands
from tests.support import ROOT

README = ROOT / "README.md"

#: (a README command, as a regular expression) -> where it is run: a test "path::name", or a file that runs it
COVERED: list[tuple[str, str]] = [
    (r"make test\b", ".ci/run"),  # CI's own command: the test suite cannot run itself
    (
        r"\.venv/bin/lambda-emulator serve app\.handler --port 9000 --watch$",
        "tests/e2e/test_cli.py::test_serve_watch_restarts_the_function_when_its_code_changes",
    ),
    (
        r"curl -d '\{\"order_id\": \"o-1\"\}' http://127\.0\.0\.1:9000/2015-03-31/functions/function/invocations$",
        "tests/e2e/test_cli.py::test_serve_answers_the_rie_invoke_endpoint_and_prints_a_timeline_line",
    ),
    (
        r"docker build --build-arg FUNCTION_DIR=images/hello -t my-function \.$"
        r"|docker run --rm -p 9000:8080 my-function\b"
        r"|curl -d '\{\"name\": \"Ada\"\}' http://localhost:9000/2015-03-31/functions/function/invocations$",
        "tests/images/test_images.py::test_hello_under_the_rie",
    ),
    (
        r"pip install -r deploy/cdk/requirements\.txt\b",
        "tests/deploy/test_templates.py::test_the_cdk_requirements_match_the_dev_pins",
    ),
    (r"cd deploy/cdk && cdk deploy$", "tests/deploy/test_templates.py::test_the_cdk_app_synthesizes_all_functions"),
    (r"make layer\b", "tests/rie/test_layer.py::test_the_wrapper_runs_this_runtimes_loop_on_the_managed_interpreter"),
    (
        r"sam build -t deploy/sam/template\.yaml && sam deploy --guided$",
        "tests/deploy/test_templates.py::test_the_sam_template_passes_cfn_lint",
    ),
]

RUN_HERE = {"make run"}


def _exists(where: str) -> bool:
    path, _, test = where.partition("::")
    if not (ROOT / path).is_file():
        return False
    text = (ROOT / path).read_text()
    return re.search(rf"^def {re.escape(test)}\(", text, re.MULTILINE) is not None if test else True


def _covering(command: Command, in_example: set[tuple[str, ...]]) -> list[str]:
    found = [where for pattern, where in COVERED if re.match(pattern, command.line)]
    if command.words in in_example:
        found.append("tests/adoption/test_user_project.py")
    if " ".join(command.words) in RUN_HERE:
        found.append("tests/adoption/test_readme.py::test_make_run_invokes_the_hello_example")
    return found


def test_every_readme_command_is_run_by_a_test() -> None:
    in_example = {command.words for command in commands(ROOT / "examples" / "project" / "README.md")}
    found = commands(README)
    assert len(found) >= 10, found  # the blocks were found at all
    for command in found:
        covering = _covering(command, in_example)
        assert len(covering) == 1, f"README command run by {len(covering)} tests, not one: {command} {covering}"
        assert _exists(covering[0]), f"README command `{command}`: {covering[0]} does not exist"
    assert "make test" in (ROOT / ".ci/run").read_text()


def test_the_checks_see_an_unknown_command(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("```sh\nmake deploy-everything\n```\n")
    [command] = commands(readme)
    assert _covering(command, set()) == []
    assert not _exists("tests/adoption/test_readme.py::test_that_was_renamed")


def test_make_run_invokes_the_hello_example() -> None:
    done = subprocess.run(
        ["make", "run"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # one pipe: the lines in the order they were written
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    output = done.stdout
    assert done.returncode == 0, output
    # The response first (the caller has it), then the deferred work's log line, then the timeline's phase.
    response = output.index('response: {"message": "Hello, Ada!"')
    assert response < output.index("sent event Ada") < output.index("after-response phase ends"), output
