"""The package's shape: layers that point one way, small files, short functions.

Every module is imported (so none is dead or broken) and its ``import`` statements, the lazy ones
inside functions included, are read from the source: a module may import its own package and the
layers below it, never a layer above it or a package beside it on the same layer.
"""
import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import mlpose

PACKAGE = Path(mlpose.__file__).parent

#: Lowest first. A module of layer N imports only from layers < N (and its own package).
LAYERS = [
    ["errors"],
    ["registry"],
    ["config"],
    ["runtime"],
    ["codecs", "visualization"],
    ["datasets", "models"],
    ["evaluation", "inference"],  # inference: using a model (predictor, pyfunc, export); below tracking, which logs it
    ["tracking"],
    ["engine"],
    ["sweep", "stack", "zoo"],  # zoo: the recipes listed and measured, configs checked by training one step
    ["cli"],
    ["mlproject"],  # the MLproject entry points run the CLI
]
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 80
LONG_FUNCTIONS_ALLOWED = {"mlpose.engine.loop.fit"}  # the one visible training loop


def _modules() -> list[str]:
    names = ["mlpose"]
    for info in pkgutil.walk_packages([str(PACKAGE)], prefix="mlpose."):
        names.append(info.name)
    return sorted(names)


def _source(module: str) -> Path:
    rel = module.split(".")[1:]
    path = PACKAGE.joinpath(*rel)
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def _top(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _imports(module: str, tree: ast.AST) -> set[str]:
    """Absolute names of the mlpose modules ``module`` imports (relative imports resolved)."""
    is_pkg = _source(module).name == "__init__.py"
    base = module.split(".") if is_pkg else module.split(".")[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("mlpose"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[:len(base) - node.level + 1]
                name = ".".join(anchor + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name.startswith("mlpose"):
                found.add(name)
    return found


MODULES = _modules()


def test_the_layer_table_names_every_package():
    tops = {_top(m) for m in MODULES if _top(m) and _top(m) != "__main__"}
    assert tops == set(RANK), f"add new packages to LAYERS (or remove stale ones): {tops ^ set(RANK)}"


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_and_points_down(module):
    importlib.import_module(module)
    tree = ast.parse(_source(module).read_text())
    own = _top(module)
    upward = []
    for target in _imports(module, tree):
        other = _top(target)
        if own is None or other is None or other == own:
            continue  # the package root (version) and the module's own package
        if RANK[other] >= RANK[own]:
            upward.append(f"{target} (layer {RANK[other]}: {'/'.join(LAYERS[RANK[other]])})")
    assert not upward, f"{module} (layer {RANK[own]}) imports up or sideways: {', '.join(sorted(upward))}"


def test_files_are_small_and_functions_short():
    too_long = []
    for module in MODULES:
        path = _source(module)
        text = path.read_text()
        if len(text.splitlines()) > MAX_FILE_LINES:
            too_long.append(f"{path.relative_to(PACKAGE.parent)}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                name = f"{module}.{node.name}"
                if length > MAX_FUNCTION_LINES and name not in LONG_FUNCTIONS_ALLOWED:
                    too_long.append(f"{name}: {length} lines")
    assert not too_long, f"over {MAX_FILE_LINES} lines per file / {MAX_FUNCTION_LINES} per function: {too_long}"


def test_the_layer_check_catches_an_upward_import():
    tree = ast.parse("from mlpose.engine.loop import fit\nfrom .names import mlflow_key\n")
    found = _imports("mlpose.evaluation.evaluator", tree)
    assert found == {"mlpose.engine.loop", "mlpose.evaluation.names"}
    assert RANK[_top("mlpose.engine.loop")] > RANK["evaluation"]
