"""Proving a layer tree still works: a real import where possible, static checks where not,
and every shared library its ELF files need found as Lambda's loader would find it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlayer.build.imports import imports_of, module_exists
from mlayer.build.native_libs import scan_layer
from mlayer.build.runner import Runner
from mlayer.build.slim import ELF_MACHINES, SmokeCheck, elf_machine
from mlayer.build.system_libs import provided_libs
from mlayer.build.target import TargetPython
from mlayer.errors import BuildError
from mlayer.runtimes import Runtime

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
        missing: set[tuple[Path, str]] = set()
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


def check_native_libs(
    tree: Path, runtime: Runtime, arch: str, allowed: tuple[str, ...] = ()
) -> int:
    """Refuse a layer whose ELF files need a library Lambda's image lacks and the layer does
    not ship where the loader looks (native_libs.py); ``allowed``: names the user vouches for.
    Returns how many ELF files were read."""
    scan = scan_layer(tree, provided_libs(runtime, arch) | frozenset(allowed))
    if scan.unreadable:
        path, reason = scan.unreadable[0]
        raise BuildError(
            f"{path} is not a readable ELF file ({reason}), so what it needs cannot be checked.",
            "Reinstall the package that ships it (the file is damaged or not a shared library).",
        )
    if not scan.unmet:
        return scan.files
    first = scan.unmet[0]
    where = (
        f"ships it only at {', '.join(first.shipped_at)}, where the loader does not look for it"
        if first.shipped_at
        else "does not ship"
    )
    more = len(scan.unmet) - 1
    others = f" ({more} more: {_listed(scan.unmet[1:])})" if more else ""
    raise BuildError(
        f"{first.needed_by} needs {first.library}, which {runtime.name} on Lambda does not"
        f" provide and the layer {where}{others}.",
        f"Ship it beside the package: `auditwheel repair` its wheel (it copies {first.library}"
        " into <package>.libs/ and points the RPATH at it), or use a wheel that vendors it."
        f" If the function gets it another way (a layer of yours with lib/{first.library},"
        f" found in /opt/lib), pass --allow-missing-lib {first.library}.",
    )


def _listed(unmet: tuple[Any, ...]) -> str:
    shown = [f"{u.needed_by} needs {u.library}" for u in unmet[:3]]
    return "; ".join(shown) + ("; …" if len(unmet) > 3 else "")
