"""RUNTIME_LAZY_IMPORTS: a module-level import of a module that does not exist fails where the name is first used."""

from typing import Any

import lazy_dep_that_does_not_exist  # type: ignore[import-not-found]


def handler(event: Any, context: Any) -> Any:
    return lazy_dep_that_does_not_exist.VALUE
