"""The dependency direction the folder layout promises (after keras-hub's import_test.py).

layers, losses, distribute <- models <- training / search / export <- cli. Layers and losses never
import models, data, features, training, export or the command line; models never import
data, training, export or the command line. Inside zoo.data, base <- formats <- sources <-
synthetic. No module imports one that imports it back.
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
    # Inside zoo.data: base <- formats <- sources <- synthetic.
    "data/base": ("zoo.data.formats", "zoo.data.sources", "zoo.data.synthetic"),
    "data/formats": ("zoo.data.sources", "zoo.data.synthetic"),
    "data/sources": ("zoo.data.synthetic",),
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


def _module_name(path):
    parts = path.relative_to(ZOO.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_modules(path, modules):
    """The zoo modules a file imports, at any depth (function-level imports too)."""
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            # `from zoo.models import mmoe` imports the module zoo.models.mmoe, not
            # what zoo/models/__init__.py defines.
            submodules = [f"{base}.{alias.name}" for alias in node.names]
            names = [name if name in modules else base for name in submodules]
        else:
            continue
        yield from (name for name in names if name in modules)


def _cycles(graph):
    """Strongly connected components of more than one module, or of one that imports itself."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(module):
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph[module]):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while not component or component[-1] != module:
                component.append(stack.pop())
                on_stack.discard(component[-1])
            if len(component) > 1 or module in graph[module]:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycles():
    """No zoo module imports one that imports it back, even inside a function.

    A function-level import only defers a cycle to the call; the modules still
    cannot be read, tested or moved apart. Importing a module also runs its
    parent packages' `__init__`; those edges are not counted, as a package
    that re-exports its own modules is no cycle.
    """
    paths = {_module_name(path): path for path in sorted(ZOO.rglob("*.py"))}
    graph = {module: set(_imported_modules(path, paths)) for module, path in paths.items()}
    assert len(graph) > 50, f"found only {len(graph)} zoo modules under {ZOO}"
    cycles = _cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)
