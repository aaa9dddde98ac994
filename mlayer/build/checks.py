"""Proving a layer tree still works: a real import where possible, static checks where not."""

from __future__ import annotations

import json
from pathlib import Path

from mlayer.build.imports import imports_of, module_exists
from mlayer.build.runner import Runner
from mlayer.build.slim import ELF_MACHINES, SmokeCheck, elf_machine
from mlayer.build.target import TargetPython

# Deeper imports that exercise most compiled parts of the default recipe.
EXTRA_IMPORTS = {
    "scipy": ("scipy.sparse", "scipy.special", "scipy.linalg", "scipy.optimize"),
    "sklearn": (
        "sklearn.linear_model",
        "sklearn.ensemble",
        "sklearn.feature_extraction.text",
        "sklearn.pipeline",
    ),
}


def smoke_modules(modules: list[str]) -> list[str]:
    names = list(modules)
    for top in modules:
        names.extend(EXTRA_IMPORTS.get(top, ()))
    return names


def import_check(target: TargetPython, modules: list[str], runner: Runner) -> SmokeCheck:
    """A fresh interpreter with only the tree and the stdlib on its path imports every module.

    -I -S: no environment, user or site-packages (a module missing from the tree must not be
    found elsewhere); -B: writes no pycs into the tree.
    """
    names = smoke_modules(modules)
    code = (
        "import importlib, sys\n"
        f"sys.path.insert(0, {target.tree!r})\n"
        f"for name in {json.dumps(names)}:\n"
        "    importlib.import_module(name)\n"
    )

    def check(_tree: Path) -> tuple[bool, str]:
        done = runner([*target.argv, "-I", "-S", "-B", "-c", code], timeout=600)
        if done.ok:
            return True, f"imported {len(names)} modules"
        return False, done.tail(3)

    return check


def static_check(modules: list[str], arch: str) -> SmokeCheck:
    """For a tree this machine cannot import: modules and METADATA present, every .so still an
    ELF for ``arch``, and no unconditional import between the layer's own modules that resolved
    at the first call (the freshly installed tree) fails to resolve now."""
    imports: dict[Path, set[str]] = {}
    baseline: set[tuple[Path, str]] | None = None

    def unresolved(tree: Path) -> set[tuple[Path, str]]:
        missing = set()
        for top in modules:
            for py in sorted((tree / top).rglob("*.py")) if (tree / top).is_dir() else []:
                rel = py.relative_to(tree)
                if rel not in imports:
                    imports[rel] = imports_of(py, rel)[0]
                missing.update(
                    (rel, needed)
                    for needed in imports[rel]
                    if needed.split(".")[0] in modules and not module_exists(tree, needed)
                )
        return missing

    def check(tree: Path) -> tuple[bool, str]:
        nonlocal baseline
        for mod in modules:
            if not module_exists(tree, mod):
                return False, f"module {mod} is gone"
        for dist in tree.glob("*.dist-info"):
            if not (dist / "METADATA").is_file():
                return False, f"{dist.name}/METADATA is gone"
        for so in tree.rglob("*.so"):
            if so.relative_to(tree).parts[0].endswith(".libs"):
                continue
            if elf_machine(so) != ELF_MACHINES[arch]:
                return False, f"{so.name} is no longer a {arch} ELF file"
        missing = unresolved(tree)
        if baseline is None:
            baseline = missing
        broken = sorted(missing - baseline)
        if broken:
            rel, needed = broken[0]
            return False, f"{rel} imports {needed}, which is gone"
        return True, f"static checks only ({len(imports)} files scanned)"

    return check
