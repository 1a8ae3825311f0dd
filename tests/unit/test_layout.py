"""Layout rules ruff cannot check: where Runtime API names live.

Which modules may open sockets or speak HTTP, that the runtime never imports the emulator, and which modules must
not be imported at module level (cold start) are ruff rules (pyproject.toml, TID251 and TID253).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
API_NAMES = re.compile(r"/2018-06-01|/2020-01-01|Lambda-Runtime-|Lambda-Extension-", re.IGNORECASE)


def knowing(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.glob("*.py") if API_NAMES.search(path.read_text()))


def test_only_api_knows_runtime_api_paths_and_headers() -> None:
    assert knowing(ROOT / "runtime") == ["api.py"]


def test_the_emulator_has_one_module_on_the_server_side() -> None:
    assert knowing(ROOT / "emulator") == ["server.py"]


# The import graph ------------------------------------------------------------------------------------------------


def module_name(path: Path, package: Path) -> str:
    """`runtime/web/asgi.py` → `web/asgi`, as docs/design.md names it (`__init__` kept)."""
    return path.relative_to(package).with_suffix("").as_posix()


def runtime_imports(path: Path, package: Path) -> set[str]:
    """The package's modules `path` imports, at module level or in a function; not under `if TYPE_CHECKING:`."""
    modules = {module_name(p, package) for p in package.rglob("*.py")}
    here = path.parent.relative_to(package).parts

    class Imports(ast.NodeVisitor):
        def __init__(self) -> None:
            self.found: set[str] = set()

        def visit_If(self, node: ast.If) -> None:
            if isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
                for child in node.orelse:
                    self.visit(child)
                return
            self.generic_visit(node)

        def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
            if not node.level:
                return
            base = list(here[: len(here) - (node.level - 1)])
            target = base + (node.module.split(".") if node.module else [])
            for name in node.names:  # `from . import aio` names a module; `from .hooks import defer` a name in one
                candidate = "/".join([*target, name.name])
                self.found.add(candidate if candidate in modules else "/".join(target) or "__init__")

    visitor = Imports()
    visitor.visit(ast.parse(path.read_text()))
    # `_typing` (TYPE_CHECKING, overload) is imported by nearly every module: the table leaves it out.
    return {name for name in visitor.found if name in modules} - {module_name(path, package), "_typing"}


def import_graph(package: Path) -> dict[str, set[str]]:
    return {module_name(p, package): runtime_imports(p, package) for p in sorted(package.rglob("*.py"))}


def design_table() -> dict[str, set[str]]:
    """docs/design.md's "Where things live": module → the modules it imports."""
    text = (ROOT / "docs" / "design.md").read_text()
    section = text[text.index("## Where things live") : text.index("## The loop:")]
    table: dict[str, set[str]] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`") and cells[0].endswith(".py`"):
            table[cells[0].strip("`").removesuffix(".py")] = set(re.findall(r"`([\w/]+)`", cells[2]))
    return table


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []

    def walk(node: str, path: list[str]) -> None:
        for following in sorted(graph.get(node, ())):
            if following == path[0]:
                found.append([*path, following])
            elif following not in path and following > path[0]:  # each cycle once, from its smallest module
                walk(following, [*path, following])

    for start in sorted(graph):
        walk(start, [start])
    return found


def test_the_design_documents_module_table_is_the_import_graph() -> None:
    graph = import_graph(ROOT / "runtime")
    table = design_table()
    assert sorted(table) == sorted(graph), "modules missing from (or extra in) docs/design.md's table"
    wrong = {module: (sorted(table[module]), sorted(imports)) for module, imports in graph.items()
             if table[module] != imports}  # fmt: skip
    assert not wrong, f"docs/design.md says (left) but the code imports (right): {wrong}"


def test_the_runtime_and_the_bench_have_no_import_cycle() -> None:
    assert cycles(import_graph(ROOT / "runtime")) == []
    assert cycles(import_graph(ROOT / "bench")) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
