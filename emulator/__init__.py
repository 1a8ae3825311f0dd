"""The local Lambda emulator and its command line (`python -m emulator invoke|serve`): development tooling.

It is not part of the runtime: the runtime never imports it, the runtime's wheel and container image do not contain
it, and it imports nothing of the runtime (it runs the runtime as a child process and speaks the Runtime API to it).
It is a distribution of its own, `lambda-after-response-emulator` (pyproject.toml in this folder), whose command is
`lambda-emulator`; installed, it starts the runtime installed in the same environment, and in a clone of the
repository, the repository's `bootstrap` (environment.py `find_bootstrap`). `server.py` serves the Runtime and
Extensions APIs with RAPID's semantics; `environment.py` adds the process life cycle of one execution environment;
`timeline.py` draws what happened; `cli.py` is the command line.
"""

__version__ = "0.2.0"
