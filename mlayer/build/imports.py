"""What a Python file imports, read with ``ast`` (no import, so it works for any CPU's tree)."""

from __future__ import annotations

import ast
from pathlib import Path


def _walk(tree: ast.Module, unconditional: bool) -> list[ast.stmt]:
    # Unconditional: the module body only (not try/if/functions), what runs at every import.
    return list(tree.body) if unconditional else _statements(tree.body)


def _statements(body: list[ast.stmt]) -> list[ast.stmt]:
    """Every statement at any depth: what ``ast.walk`` finds of them, without visiting the
    expressions (most of a module's nodes; no statement lives inside one)."""
    found: list[ast.stmt] = []
    stack: list[ast.AST] = list(body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.stmt):
            found.append(node)
        for _name, value in ast.iter_fields(node):
            if isinstance(value, list):
                stack.extend(v for v in value if isinstance(v, _HOLDERS))
    return found


# What holds statements: statements themselves, ``except`` clauses and ``match`` cases.
_HOLDERS = (ast.stmt, ast.excepthandler, ast.match_case)


def imports_of(path: Path, rel: Path, unconditional: bool = True) -> tuple[set[str], set[str]]:
    """(modules imported, ``module.name`` pairs of from-imports that may be submodules).

    ``rel`` is the file's path inside the tree, which makes relative imports absolute.
    """
    try:
        tree = ast.parse(path.read_bytes())
    except (SyntaxError, ValueError):
        return set(), set()
    package = rel.parts[:-1]
    modules: set[str] = set()
    maybe: set[str] = set()
    for node in _walk(tree, unconditional):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[: len(package) - (node.level - 1)])
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            if module:
                modules.add(module)
                maybe.update(f"{module}.{a.name}" for a in node.names if a.name != "*")
    return modules, maybe


def module_files(tree: Path, dotted: str) -> list[Path]:
    """The files that make ``dotted`` importable: the module itself and its packages' __init__."""
    parts = dotted.split(".")
    found: list[Path] = []
    for i in range(1, len(parts)):
        init = tree.joinpath(*parts[:i], "__init__.py")
        if init.is_file():
            found.append(init)
    base = tree.joinpath(*parts)
    if (base / "__init__.py").is_file():
        found.append(base / "__init__.py")
    elif base.with_suffix(".py").is_file():
        found.append(base.with_suffix(".py"))
    else:
        found.extend(sorted(base.parent.glob(base.name + ".*.so")) if base.parent.is_dir() else [])
    return found


def module_exists(tree: Path, dotted: str) -> bool:
    base = tree.joinpath(*dotted.split("."))
    if base.is_dir() or base.with_suffix(".py").is_file() or base.with_suffix(".so").is_file():
        return True
    return base.parent.is_dir() and any(base.parent.glob(base.name + ".*.so"))
