"""No import cycles among mlayer's modules, nor among the function's.

Every import counts: at module level, inside a function (a deferred import that only breaks a
cycle hides it from Python, not from a reader) and under ``TYPE_CHECKING`` (a cycle in the types
is one in the design). The graph is read with ast, so nothing is imported to build it.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = {"mlayer": REPO, "mlayer_function": REPO / "function"}


def module_files(package: str) -> dict[str, Path]:
    root = PACKAGES[package]
    files = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        files[".".join(parts)] = path
    return files


def imported_names(path: Path, module: str) -> list[list[str]]:
    """Each import as the names it may reach, most specific last: ``from a import b`` gives
    ``[a, a.b]`` (b may be a submodule or a name in a)."""
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend([alias.name] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                here = module.split(".") if is_package else module.split(".")[:-1]
                here = here[: len(here) - node.level + 1]
                base = ".".join([*here, *([node.module] if node.module else [])])
            found.append([base, *(f"{base}.{alias.name}" for alias in node.names)])
    return found


def import_graph(package: str) -> dict[str, set[str]]:
    files = module_files(package)
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        for reach in imported_names(path, name):
            submodules = [r for r in reach[1:] if r in files]
            graph[name].update(submodules or [r for r in reach[:1] if r in files])
        graph[name].discard(name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            step = next(edges, None)
            if step is not None:
                if step not in index:
                    index[step] = low[step] = len(index)
                    stack.append(step)
                    on_stack.add(step)
                    work.append((step, iter(sorted(graph[step]))))
                elif step in on_stack:
                    low[node] = min(low[node], index[step])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def test_the_finder_finds_a_cycle_and_its_members_only():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": {"e"}, "e": set(), "f": {"f"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_relative_and_from_imports_resolve_to_modules():
    graph = import_graph("mlayer_function")
    assert "mlayer_function.decoding" in graph["mlayer_function.modelstore"]
    assert "mlayer_function.fetch" in graph["mlayer_function.modelstore"]  # from . import fetch


def test_no_import_cycle_in_mlayer():
    assert cycles(import_graph("mlayer")) == []


def test_no_import_cycle_in_the_function():
    """modelstore and onnx_model share model_manifest and serving, and neither imports the
    other at module level (modelstore imports onnx_model inside load_model, one way)."""
    assert cycles(import_graph("mlayer_function")) == []


def test_both_loaders_serve_one_protocol_without_importing_each_other():
    graph = import_graph("mlayer_function")
    assert "mlayer_function.modelstore" not in graph["mlayer_function.onnx_model"]
    for loader in ("mlayer_function.modelstore", "mlayer_function.onnx_model"):
        assert {"mlayer_function.model_manifest", "mlayer_function.serving"} <= graph[loader]
