"""RUNTIME_LAZY_IMPORTS: a module-level import of a module that does not exist fails where the name is first used."""

import lazy_dep_that_does_not_exist


def handler(event, context):
    return lazy_dep_that_does_not_exist.VALUE
