"""Slimming a layer tree, one measured step at a time, each kept only if the layer still imports.

Every step moves what it removes (or the originals of what it rewrites) into a stash first; if
the smoke check fails afterwards, the stash is put back and the step is reported as reverted.
Vendored libraries in ``*.libs/`` are never touched: auditwheel placed them with exact layouts
(stripping scipy's bundled OpenBLAS breaks it: "ELF load command address/offset not
page-aligned"), and ``*.dist-info`` METADATA stays, since the lock is read from it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mlayer.build.imports import imports_of, module_files
from mlayer.build.slim_onnx import find_onnxruntime_unused
from mlayer.build.tree import dir_size

SOURCE_SUFFIXES = (".pyx", ".pxd", ".pxi", ".c", ".cpp", ".h", ".hpp")
ELF_MAGIC = b"\x7fELF"
ELF_MACHINES = {"x86_64": 62, "arm64": 183}  # e_machine per Lambda architecture

# (ok, detail): how a step proves it did not break the layer.
SmokeCheck = Callable[[Path], tuple[bool, str]]
# Rewrites files in place (strip); returns a reason when it could not run at all.
Rewriter = Callable[[list[Path]], str | None]


@dataclass(frozen=True)
class SlimStep:
    name: str
    status: str  # applied | reverted | skipped
    bytes_saved: int
    files: int
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "bytes_saved": self.bytes_saved,
            "files": self.files,
            "detail": self.detail,
        }


def _protected(rel: Path) -> bool:
    top = rel.parts[0] if rel.parts else ""
    return top.endswith((".libs", ".dist-info", ".data")) or any(
        p.endswith(".libs") for p in rel.parts
    )


def _walk(tree: Path) -> Iterable[tuple[Path, list[str], list[str]]]:
    for dirpath, dirs, files in os.walk(tree):
        dirs.sort()
        here = Path(dirpath)
        rel = here.relative_to(tree)
        if rel.parts and _protected(rel):
            dirs[:] = []
            continue
        yield here, dirs, sorted(files)


def find_pycache(tree: Path) -> list[Path]:
    """``__pycache__`` folders: pip compiled them for the host's Python, not the runtime's."""
    return [d / "__pycache__" for d, dirs, _ in _walk(tree) if "__pycache__" in dirs]


def find_tests(tree: Path) -> list[Path]:
    """``tests`` folders inside packages, minus the modules the packages' own code imports.

    numpy 2.2's ``numpy.testing`` imports ``numpy._core.tests._natype``: such a module (and the
    ``__init__.py`` files that make it importable) stays; everything else in the folder goes.
    """
    folders: list[Path] = []
    for d, dirs, _ in _walk(tree):
        if d != tree and "tests" in dirs:
            folders.append(d / "tests")
            dirs.remove("tests")
    if not folders:
        return []
    keep = _imported_test_files(tree, folders)
    targets: list[Path] = []
    for folder in folders:
        if not any(k.is_relative_to(folder) for k in keep):
            targets.append(folder)
            continue
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path not in keep and "__pycache__" not in path.parts:
                targets.append(path)
    return targets


def _imported_test_files(tree: Path, folders: list[Path]) -> set[Path]:
    keep: set[Path] = set()
    for d, _dirs, files in _walk(tree):
        if any(d == f or d.is_relative_to(f) for f in folders):
            continue
        for name in files:
            if not name.endswith(".py"):
                continue
            path = d / name
            modules, maybe = imports_of(path, path.relative_to(tree), unconditional=False)
            for dotted in modules | maybe:
                if ".tests" not in f".{dotted}.":
                    continue
                keep.update(module_files(tree, dotted))
    return keep


def find_sources(tree: Path) -> list[Path]:
    """Build inputs that nothing imports at run time: Cython and C/C++ sources and headers."""
    return [d / f for d, _, files in _walk(tree) for f in files if f.endswith(SOURCE_SUFFIXES)]


def find_scripts(tree: Path) -> list[Path]:
    """``bin/``: console scripts whose shebang names the build machine's Python."""
    return [tree / "bin"] if (tree / "bin").is_dir() else []


def find_own_shared_objects(tree: Path) -> list[Path]:
    """The packages' own ``.so`` files (the ones in ``*.libs/`` are excluded by ``_walk``)."""
    return [
        d / f
        for d, _, files in _walk(tree)
        for f in files
        if (f.endswith(".so") or ".so." in f) and not (d / f).is_symlink()
    ]


def elf_machine(path: Path) -> int | None:
    """The ELF e_machine field (62 x86_64, 183 aarch64), or None if not an ELF file."""
    with open(path, "rb") as fh:
        head = fh.read(20)
    if len(head) < 20 or head[:4] != ELF_MAGIC:
        return None
    order: Literal["little", "big"] = "little" if head[5] == 1 else "big"
    return int.from_bytes(head[18:20], order)


def _size(paths: Iterable[Path]) -> int:
    return sum(dir_size(p) for p in paths if p.exists())


def remove_step(
    name: str, tree: Path, targets: list[Path], smoke: SmokeCheck, stash: Path
) -> SlimStep:
    """Move targets aside, smoke-check, and either drop them or put them back."""
    if not targets:
        return SlimStep(name, "skipped", 0, 0, "nothing to remove")
    saved = _size(targets)
    moved: list[tuple[Path, Path]] = []
    for src in targets:
        dst = stash / src.relative_to(tree)
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dst)
        moved.append((src, dst))
    ok, detail = smoke(tree)
    if not ok:
        for src, dst in reversed(moved):
            src.parent.mkdir(parents=True, exist_ok=True)
            os.replace(dst, src)
        return SlimStep(name, "reverted", 0, len(targets), f"broke the layer, kept: {detail}")
    shutil.rmtree(stash, ignore_errors=True)
    return SlimStep(name, "applied", saved, len(targets), detail)


def rewrite_step(
    name: str, tree: Path, targets: list[Path], rewrite: Rewriter, smoke: SmokeCheck, stash: Path
) -> SlimStep:
    """Copy originals aside, rewrite in place, smoke-check, restore the originals on failure."""
    if not targets:
        return SlimStep(name, "skipped", 0, 0, "nothing to rewrite")
    before = _size(targets)
    for src in targets:
        dst = stash / src.relative_to(tree)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
    problem = rewrite(targets)
    ok, detail = (False, problem) if problem else smoke(tree)
    if not ok:
        for src in targets:
            shutil.copy2(stash / src.relative_to(tree), src)
        shutil.rmtree(stash, ignore_errors=True)
        return SlimStep(name, "reverted", 0, len(targets), f"kept the originals: {detail}")
    shutil.rmtree(stash, ignore_errors=True)
    return SlimStep(name, "applied", before - _size(targets), len(targets), detail)


def slim_tree(
    tree: Path,
    smoke: SmokeCheck,
    work: Path,
    strip: Rewriter | None,
    strip_unavailable: str = "",
    on_step: Callable[[str], None] = lambda _name: None,
) -> list[SlimStep]:
    """Run every step in order; ``strip`` is None when no strip tool handles the target CPU."""
    steps: list[SlimStep] = []
    removals = (
        ("__pycache__", find_pycache),
        ("tests folders", find_tests),
        ("build sources", find_sources),
        ("console scripts", find_scripts),
        ("onnxruntime extras", find_onnxruntime_unused),
    )
    for i, (name, finder) in enumerate(removals):
        on_step(name)
        steps.append(remove_step(name, tree, finder(tree), smoke, work / f"stash-{i}"))
    on_step("strip")
    if strip is None:
        steps.append(SlimStep("strip", "skipped", 0, 0, strip_unavailable))
    else:
        targets = find_own_shared_objects(tree)
        steps.append(rewrite_step("strip", tree, targets, strip, smoke, work / "stash-strip"))
    return steps
