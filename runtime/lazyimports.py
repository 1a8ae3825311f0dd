"""`RUNTIME_LAZY_IMPORTS=on`: the function's module is imported with Python 3.15's global lazy-import mode (PEP 810),
so a module it imports at its top is loaded only when first used, if ever.

Only during init's import of the handler module: the mode is set to "all" around it and back to "normal" after, so
what is imported later (by the modules loaded at first use, by the runtime) is eager again. A filter keeps eager the
runtime's own modules and those named in `RUNTIME_EAGER_IMPORTS` (modules whose import has side effects the function
relies on: a monkey-patch, a registration). The interpreter itself leaves eager what PEP 810 excludes: imports in
functions, in `try` blocks, and `from x import *`.

The cost moves, it does not vanish: a module first used by an invocation is loaded in that invocation. And an
import that fails is no longer an init error: it fails each invocation that uses the name (README "Configuration").
"""

from __future__ import annotations

import sys

from ._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar

    T = TypeVar("T")


def supported() -> bool:
    """Whether this interpreter has PEP 810's global mode (CPython 3.15 and later)."""
    return hasattr(sys, "set_lazy_imports")


def import_lazily(load: Callable[[], T], eager: tuple[str, ...]) -> T:
    """`load()` (the handler module's import) with module-level imports lazy, but for the runtime's and `eager`."""
    keep_eager = ("runtime", *eager)

    def lazy(importer: str, name: str, fromlist: tuple[str, ...] | None) -> bool:
        # Called for each module-level import while the mode is "all": True keeps it lazy. `name` is resolved
        # (a relative import's package is named in full).
        return not any(_within(module, prefix) for module in (importer, name) for prefix in keep_eager)

    set_mode: Callable[[str], None] = sys.set_lazy_imports  # type: ignore[attr-defined]  # 3.15+, checked by the caller
    set_filter: Callable[[Any], None] = sys.set_lazy_imports_filter  # type: ignore[attr-defined]
    set_filter(lazy)
    set_mode("all")
    try:
        return load()
    finally:
        set_mode("normal")
        set_filter(None)


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")
