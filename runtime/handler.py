"""Load the handler named by `_HANDLER`, with awslambdaric's rules and error types (platform §5.1)."""

from __future__ import annotations

import os
import sys

from .errors import BuiltInModuleConflict, HandlerNotFound, ImportModuleError, MalformedHandlerName, UserCodeSyntaxError

TYPE_CHECKING = False  # `typing` costs ~8 ms of cold start: it is for the type checker only
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    Handler = Callable[[Any, Any], Any]


def load_handler(spec: str) -> Handler:
    """`mod.fn`, `pkg.mod.fn` or `dir/mod.fn` → the function; any other import failure propagates as it is."""
    try:
        module_name, function_name = spec.rsplit(".", 1)
    except ValueError as exc:
        raise MalformedHandlerName(f"Bad handler '{spec}': {exc}") from None
    if module_name.split(".")[0] in sys.builtin_module_names:
        raise BuiltInModuleConflict(f"Cannot use built-in module {module_name} as a handler module")
    name = module_name.replace("/", ".")
    try:
        # __import__, not importlib.import_module: the same import, without `importlib` and the `warnings` it
        # imports (~0.4 ms of every cold start).
        __import__(name)
        module = sys.modules[name]
    except ImportError as exc:
        raise ImportModuleError(f"Unable to import module '{module_name}': {exc}") from exc
    except SyntaxError as exc:
        trace = [f'  File "{exc.filename}" Line {exc.lineno}\n    {exc.text}']
        raise UserCodeSyntaxError(f"Syntax error in module '{module_name}': {exc}", trace) from exc
    try:
        handler: Handler = getattr(module, function_name)
    except AttributeError:
        raise HandlerNotFound(f"Handler '{function_name}' missing on module '{module_name}'") from None
    return handler


def refuse_shadowing_modules(task_root: str | None) -> None:
    """A module or package named `runtime` in the task root (or the working directory) is an init error naming it.

    bootstrap imports this package from its own directory, ahead of the task root, so start-up always works; but the
    function's `from runtime import after_response` and its own `import runtime` would then get the same module,
    and one of them the wrong one. awslambdaric has no such name to collide with (README "Compatibility"). Other
    places on sys.path (site-packages) are not searched: they hold installed copies of this runtime, not user code.
    """
    # The import system's own path finder (importlib.machinery.PathFinder), already loaded: no `importlib` import.
    from _frozen_importlib_external import PathFinder

    ours = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    places = {os.path.abspath(place) for place in (task_root, os.getcwd()) if place} - {ours}
    spec = PathFinder.find_spec(__package__ or "runtime", sorted(places))
    # A folder without __init__.py (a namespace portion, e.g. data files) does not shadow a regular package.
    if spec is not None and spec.origin is not None:
        raise BuiltInModuleConflict(
            f"Cannot use {spec.origin}: 'runtime' is the name of this Lambda runtime's own package "
            "(from runtime import after_response); rename the module"
        )
