"""The package's shape, as a reader meets it: no import cycles, no hidden function-local imports, no class
too long to read in one sitting, and ``train`` short enough to be the outline of a run."""

import ast
from pathlib import Path

import pytest

import minikd

PACKAGE = Path(minikd.__file__).resolve().parent
MODULES = {
    ".".join(("minikd", *p.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__"): p
    for p in sorted(PACKAGE.rglob("*.py"))
}
# Imports inside functions that are deliberate (an optional dependency, documented where it is imported).
ALLOWED_LOCAL_IMPORTS: set = set()


def _resolve(module: str, node: ast.ImportFrom) -> list:
    """The minikd modules an ``ImportFrom`` node brings in (``from . import x`` may name submodules)."""
    is_package = MODULES[module].name == "__init__.py"
    base = module.split(".")
    if node.level:
        base = base[: len(base) - node.level + (1 if is_package else 0)]
    target = ".".join(base + ([node.module] if node.module else []))
    found = [target] if target in MODULES else []
    for alias in node.names:
        sub = f"{target}.{alias.name}"
        if sub in MODULES:
            found.append(sub)
    return found


def _graph() -> dict:
    graph = {}
    for name, path in MODULES.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                deps.update(_resolve(name, node))
            elif isinstance(node, ast.Import):
                deps.update(alias.name for alias in node.names if alias.name in MODULES)
        graph[name] = deps - {name}
    return graph


def test_no_import_cycles():
    graph = _graph()
    state, cycles = {}, []

    def visit(node, path):
        state[node] = "open"
        for dep in sorted(graph[node]):
            if state.get(dep) == "open":
                cycles.append(path[path.index(dep):] + [dep])
            elif dep not in state:
                visit(dep, path + [dep])
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    # A submodule importing its own package's __init__ is how Python loads packages, not a cycle of code.
    real = [c for c in cycles
            if not all(b.startswith(a + ".") or a.startswith(b + ".") for a, b in zip(c, c[1:], strict=False))]
    assert not real, f"import cycles: {real}"


def test_the_graph_sees_the_imports():
    graph = _graph()
    assert "minikd.checkpoint" in graph["minikd.trainer.resume"]
    assert "minikd.trainer.distillation" in graph["minikd.trainer.self_distillation"]


def test_no_function_local_imports_except_the_documented_ones():
    found = []
    for name, path in MODULES.items():
        for fn in ast.walk(ast.parse(path.read_text())):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if any(isinstance(n, (ast.Import, ast.ImportFrom)) for n in ast.walk(fn)):
                    if (name, fn.name) not in ALLOWED_LOCAL_IMPORTS:
                        found.append(f"{name}.{fn.name}")
    assert not found, f"function-local imports: {found}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_class_is_over_about_320_lines(name):
    for node in ast.walk(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.ClassDef):
            lines = node.end_lineno - node.lineno + 1
            assert lines <= 330, f"{name}.{node.name} is {lines} lines"


def test_train_is_the_outline_of_a_run():
    tree = ast.parse(MODULES["minikd.trainer.base"].read_text())
    train = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "train")
    body_start = train.body[1].lineno  # after the docstring
    assert train.end_lineno - body_start + 1 <= 20, "train's body should be a short outline"
    assert train.end_lineno - train.lineno + 1 <= 60
