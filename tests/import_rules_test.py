"""The dependency direction the folder layout promises (after keras-hub's import_test.py).

layers, losses, distribute <- models <- training / search / export <- cli. Layers and losses never
import models, data, features, training, export or the command line; models never import
data, training, export or the command line.
"""

import ast
import pathlib

import pytest

ZOO = pathlib.Path(__file__).resolve().parents[1] / "zoo"

FORBIDDEN = {
    "layers": ("zoo.models", "zoo.data", "zoo.features", "zoo.training", "zoo.export", "zoo.cli"),
    "losses": ("zoo.models", "zoo.data", "zoo.features", "zoo.training", "zoo.export", "zoo.cli"),
    "models": ("zoo.data", "zoo.training", "zoo.export", "zoo.cli"),
    "features": ("zoo.models", "zoo.data", "zoo.training", "zoo.export", "zoo.cli"),
    "data": ("zoo.models", "zoo.training", "zoo.export", "zoo.cli"),
    "export": ("zoo.training", "zoo.cli", "zoo.data"),
    "training": ("zoo.export", "zoo.cli"),
    "search": ("zoo.export", "zoo.cli"),
    "distribute": ("zoo.models", "zoo.data", "zoo.training", "zoo.export", "zoo.cli"),
    "graphs": ("zoo.models", "zoo.data", "zoo.training", "zoo.export", "zoo.cli"),
}


def _imports(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_does_not_import_upwards(package):
    files = sorted((ZOO / package).rglob("*.py"))
    assert files, f"no files under zoo/{package}"
    offenders = [
        f"{path.relative_to(ZOO.parent)} imports {name}"
        for path in files
        for name in _imports(path)
        if name.startswith(FORBIDDEN[package])
    ]
    assert not offenders, "\n".join(offenders)
