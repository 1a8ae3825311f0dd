"""The shell commands a Markdown document tells its reader to run: its ```sh blocks, one command per line.

The adoption tests run them (or, for `docker`, their buildah equivalent here) so that the documents cannot rot: a
command a test does not know is a failure, naming the command.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Command:
    line: str  # as written (continuations joined), comments included: bash ignores them
    words: tuple[str, ...]  # the line's words as the shell splits them, comments left out, variables not expanded

    def __str__(self) -> str:
        return self.line


def commands(document: Path) -> list[Command]:
    """Every command of the document's ```sh blocks, in order; lines that are only comments are left out."""
    found = []
    for block in _BLOCK.findall(document.read_text()):
        for line in block.replace("\\\n", " ").splitlines():
            words = tuple(shlex.split(line, comments=True))
            if words:
                found.append(Command(line.strip(), words))
    return found
