"""The layering rules: engine/ and nodes/ never touch Qt; app/ and nodes/ import torch lazily; no module
imports another that imports it back (docs/ARCHITECTURE.md)."""

import ast
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
QT_MODULES = ("PySide6", "pyqtgraph", "shiboken6", "PyQt5", "PyQt6")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", ["engine", "nodes"])
def test_engine_and_nodes_never_import_qt(package):
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for name in imported_modules(path)
        if name.split(".")[0] in QT_MODULES
    ]
    assert offenders == []


@pytest.mark.parametrize("package", ["engine", "nodes"])
def test_nothing_outside_app_imports_app(package):
    offenders = [
        str(path.relative_to(ROOT)) for path in sorted((ROOT / package).rglob("*.py"))
        if any(name.split(".")[0] == "app" for name in imported_modules(path))
    ]
    assert offenders == []


def test_importing_the_catalogue_and_validating_does_not_load_torch_or_qt():
    code = (
        "import sys, nodes, engine.validate, engine.fileformat, engine.cli;"
        "bad = [m for m in ('torch', 'PySide6') if m in sys.modules]; print(bad); sys.exit(bool(bad))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# -- no import circles ------------------------------------------------------------------------------
PACKAGES = ("app", "engine", "nodes")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    """`if TYPE_CHECKING:` or `if typing.TYPE_CHECKING:`."""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def runtime_imports(path: Path, modules: set[str]) -> set[str]:
    """The project modules `path` imports when it runs: at the top and inside functions (a function-level
    import is a circle too, only deferred), not under `if TYPE_CHECKING:` (annotations never run).
    `from pkg import name` counts as importing the submodule `pkg.name` when there is one, else `pkg`.
    A submodule's own package, which Python imports first, is not counted as an import of it."""
    name = module_name(path)
    package = (name if path.name == "__init__.py" else name.rpartition(".")[0]).split(".")
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # `from ..x import y` inside package a.b.c: a.b.x
                base = ".".join([*package[:len(package) - node.level + 1], *filter(None, [node.module])])
            found.update(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    resolved = set()
    for imported in found:  # `import engine.train.loop`, or a name inside a module: the deepest module it names
        while imported and imported not in modules:
            imported = imported.rpartition(".")[0]
        if imported and imported != name:
            resolved.add(imported)
    return resolved


@pytest.fixture(scope="module")
def import_graph() -> nx.DiGraph:
    paths = {module_name(path): path for package in PACKAGES for path in (ROOT / package).rglob("*.py")}
    graph = nx.DiGraph()
    graph.add_nodes_from(paths)
    graph.add_edges_from((name, imported) for name, path in paths.items()
                         for imported in runtime_imports(path, set(paths)))
    return graph


def test_no_module_imports_one_that_imports_it_back(import_graph):
    """A circle works only while every import but one is deferred into a function, and whoever adds a
    top-level import breaks it. The modules are layered instead (document → blocks → expansion →
    validation; the editor's parts never import the editor at run time)."""
    circles = [" → ".join([*cycle, cycle[0]]) for component in nx.strongly_connected_components(import_graph)
               if len(component) > 1 for cycle in [next(nx.simple_cycles(import_graph.subgraph(component)))]]
    assert circles == []


# The block layers (docs/ARCHITECTURE.md): each module and the modules above it, which it never imports,
# not even inside a function.
BLOCK_LAYERS = {
    "engine.document": {"engine.blocks", "engine.block_edit", "engine.block_expand", "engine.validate"},
    "engine.blocks": {"engine.block_edit", "engine.block_expand", "engine.validate"},
    "engine.validation_report": {"engine.block_expand", "engine.validate"},
    "engine.block_expand": {"engine.validate"},
}


@pytest.mark.parametrize("module", list(BLOCK_LAYERS))
def test_block_layers_import_only_downwards(module, import_graph):
    assert set(import_graph.successors(module)) & BLOCK_LAYERS[module] == set()
