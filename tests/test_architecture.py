"""The layering rules: engine/ and nodes/ never touch Qt; app/ and nodes/ import torch lazily."""

import ast
import subprocess
import sys
from pathlib import Path

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
