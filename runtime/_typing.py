"""`typing.overload` without importing `typing` at run time (~8 ms of cold start); the type checker sees the real one.

Ruff treats this module as `typing` (`lint.typing-modules` in pyproject.toml).
"""

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import overload
else:

    def overload(fn):  # the @overload signatures are for the type checker; the last definition is the real one
        return fn


__all__ = ["overload"]
