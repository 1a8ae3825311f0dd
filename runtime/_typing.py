"""What the runtime uses of `typing`, without importing it at run time (~8 ms of every cold start).

`TYPE_CHECKING` is False when the code runs and True for the type checker (mypy and ruff read any `TYPE_CHECKING`
name that way): every module imports it from here and puts its annotation-only imports under `if TYPE_CHECKING:`.
`overload` is the real one for the type checker. Ruff treats this module as `typing` (`lint.typing-modules` in
pyproject.toml).
"""

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import overload
else:

    def overload(fn):  # the @overload signatures are for the type checker; the last definition is the real one
        return fn


__all__ = ["overload"]
