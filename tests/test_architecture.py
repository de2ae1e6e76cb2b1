"""The shape of the package: its modules import each other without cycles, and the NumPy
reference (``intrinsic_flow.reference``) and the core side stay apart.

The import graph is read from the source with ``ast`` (every ``import`` and ``from ... import``,
those inside functions included), so a cycle hidden behind a function-level import counts too.
Importing a submodule also runs its parent packages; those implicit edges are left out, as every
module would otherwise reach ``intrinsic_flow/__init__.py``.
"""
from __future__ import annotations

import ast
import importlib
import inspect
import pathlib
import pkgutil
import types

import intrinsic_flow

PACKAGE = "intrinsic_flow"
ROOT = pathlib.Path(intrinsic_flow.__file__).parent


def _module_name(path: pathlib.Path) -> str:
    parts = (PACKAGE,) + path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict:
    """{module name: (path, is a package)} for every .py file of the package, and its compiled
    extensions (leaves, path None), wherever the installation put them."""
    files = sorted(ROOT.rglob("*.py"))
    known = {_module_name(path): (path, path.name == "__init__.py") for path in files}
    for module in pkgutil.iter_modules(intrinsic_flow.__path__, prefix=f"{PACKAGE}."):
        known.setdefault(module.name, (None, False))
    return known


def _imports(name: str, path: pathlib.Path, is_package: bool, known: dict) -> set:
    """Modules of the package that ``name`` imports (explicit edges only)."""
    if path is None:  # a compiled extension imports nothing of the package
        return set()
    package = name if is_package else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(base + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in known else base)
    return {target for target in found if target in known and target != name}


def import_graph() -> dict:
    known = _modules()
    return {name: _imports(name, path, is_package, known) for name, (path, is_package) in known.items()}


def _find_cycle(graph: dict):
    """One cycle as a list of modules, or None (depth-first search with colours)."""
    colour, stack = {name: 0 for name in graph}, []

    def visit(name):
        colour[name] = 1
        stack.append(name)
        for target in sorted(graph[name]):
            if colour[target] == 1:
                return stack[stack.index(target):] + [target]
            if colour[target] == 0:
                cycle = visit(target)
                if cycle:
                    return cycle
        stack.pop()
        colour[name] = 2
        return None

    for name in sorted(graph):
        if colour[name] == 0:
            cycle = visit(name)
            if cycle:
                return cycle
    return None


def _reachable(graph: dict, start: str) -> set:
    seen, todo = set(), [start]
    while todo:
        for target in graph[todo.pop()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def _is_reference(name: str) -> bool:
    return name == f"{PACKAGE}.reference" or name.startswith(f"{PACKAGE}.reference.")


def test_the_graph_sees_function_level_imports():
    graph = import_graph()
    # the loader of the compiled core imports compiled modules only
    assert graph[f"{PACKAGE}._core"] and all(graph[t] == set() for t in graph[f"{PACKAGE}._core"])
    assert f"{PACKAGE}._core" in graph[f"{PACKAGE}.geometry"]
    assert f"{PACKAGE}._checks" in graph[f"{PACKAGE}.models"]
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_import_graph_is_acyclic():
    cycle = _find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_core_side_module_imports_the_reference():
    graph = import_graph()
    offenders = {name: sorted(t for t in targets if _is_reference(t))
                 for name, targets in graph.items() if not _is_reference(name)}
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_reference_never_reaches_the_core():
    """reference/ is the independent ground truth: no path of imports from it reaches the
    compiled core or a module that calls it."""
    graph = import_graph()
    for name in graph:
        if _is_reference(name):
            reached = _reachable(graph, name)
            assert f"{PACKAGE}._core" not in reached, f"{name} reaches the core: {sorted(reached)}"


def test_every_public_name_is_bound_statically():
    """No star import and no ``globals().update`` anywhere: a reader (or mypy) finds each name."""
    # the loader of the compiled core re-exports the module chosen for this CPU at import time; its
    # names are typed statically by _core.pyi
    loader = f"{PACKAGE}._core"
    for name, (path, _) in _modules().items():
        if path is None or name == loader:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert all(alias.name != "*" for alias in node.names), f"star import in {name}"
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "update":
                target = node.func.value
                assert not (isinstance(target, ast.Call) and getattr(target.func, "id", "") == "globals"), \
                    f"globals().update in {name}"
    for package in (intrinsic_flow, importlib.import_module(f"{PACKAGE}.reference")):
        missing = [n for n in package.__all__ if n not in vars(package)]
        assert missing == [], f"{package.__name__}.__all__ lists unbound {missing}"


def test_a_submodule_import_gives_the_module_and_the_call_the_function():
    scan_module = importlib.import_module(f"{PACKAGE}.scan")
    import intrinsic_flow.scan as imported  # noqa: E402 - the statement under test

    assert imported is scan_module and isinstance(scan_module, types.ModuleType)
    assert imported.ScanResult is intrinsic_flow.ScanResult
    assert list(inspect.signature(intrinsic_flow.scan).parameters)[:2] == ["models", "n_samples"]
    net = intrinsic_flow.ReLUNet([2, 2, 1])
    theta = net.init(0)
    assert intrinsic_flow.criteria(net, theta) == intrinsic_flow.criteria.criteria(net, theta)
    result = intrinsic_flow.scan(net, 2, progress=False)
    assert isinstance(result, scan_module.ScanResult) and len(result.rows["rank_lift"]) == 2
