"""Slimming a layer tree in measured steps, kept only if the layer still imports.

All steps are tried together under one smoke check; only when that fails do they run one at a
time, each checked alone. Every step moves what it removes (or the originals of what it rewrites) into a stash first; if
the smoke check fails afterwards, the stash is put back and the step is reported as reverted.
Vendored libraries in ``*.libs/`` are never touched: auditwheel placed them with exact layouts
(stripping scipy's bundled OpenBLAS breaks it: "ELF load command address/offset not
page-aligned"), and ``*.dist-info`` METADATA stays, since the lock is read from it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
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
            if b"tests" not in path.read_bytes():
                continue  # an import of a tests module names it: no need to parse the file
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


def _move_aside(tree: Path, targets: list[Path], stash: Path) -> list[tuple[Path, Path]]:
    moved: list[tuple[Path, Path]] = []
    for src in targets:
        dst = stash / src.relative_to(tree)
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dst)
        moved.append((src, dst))
    return moved


def _put_back(moved: list[tuple[Path, Path]]) -> None:
    for src, dst in reversed(moved):
        src.parent.mkdir(parents=True, exist_ok=True)
        os.replace(dst, src)


def _copy_aside(tree: Path, targets: list[Path], stash: Path) -> None:
    for src in targets:
        dst = stash / src.relative_to(tree)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)


def _copy_back(tree: Path, targets: list[Path], stash: Path) -> None:
    for src in targets:
        shutil.copy2(stash / src.relative_to(tree), src)
    shutil.rmtree(stash, ignore_errors=True)


def remove_step(
    name: str, tree: Path, targets: list[Path], smoke: SmokeCheck, stash: Path
) -> SlimStep:
    """Move targets aside, smoke-check, and either drop them or put them back."""
    if not targets:
        return SlimStep(name, "skipped", 0, 0, "nothing to remove")
    saved = _size(targets)
    moved = _move_aside(tree, targets, stash)
    ok, detail = smoke(tree)
    if not ok:
        _put_back(moved)
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
    _copy_aside(tree, targets, stash)
    problem = rewrite(targets)
    ok, detail = (False, problem) if problem else smoke(tree)
    if not ok:
        _copy_back(tree, targets, stash)
        return SlimStep(name, "reverted", 0, len(targets), f"kept the originals: {detail}")
    shutil.rmtree(stash, ignore_errors=True)
    return SlimStep(name, "applied", before - _size(targets), len(targets), detail)


REMOVALS: tuple[tuple[str, Callable[[Path], list[Path]]], ...] = (
    ("__pycache__", find_pycache),
    ("tests folders", find_tests),
    ("build sources", find_sources),
    ("console scripts", find_scripts),
    ("onnxruntime extras", find_onnxruntime_unused),
)


def slim_tree(
    tree: Path,
    smoke: SmokeCheck,
    work: Path,
    strip: Rewriter | None,
    strip_unavailable: str = "",
    on_step: Callable[[str], None] = lambda _name: None,
) -> list[SlimStep]:
    """Every step at once, proven by one smoke check; when that check fails, everything is put
    back and the steps run one at a time, each kept only if the layer still imports. The
    result is the same when every step is safe, with one check instead of six (each a fresh
    interpreter importing the whole stack, ~1.5 s); ``strip`` is None when no tool handles the
    target CPU."""
    together = _all_at_once(tree, smoke, work, strip, strip_unavailable, on_step)
    if together is not None:
        return together
    steps: list[SlimStep] = []
    for i, (name, finder) in enumerate(REMOVALS):
        on_step(name)
        steps.append(remove_step(name, tree, finder(tree), smoke, work / f"stash-{i}"))
    on_step("strip")
    if strip is None:
        steps.append(SlimStep("strip", "skipped", 0, 0, strip_unavailable))
    else:
        targets = find_own_shared_objects(tree)
        steps.append(rewrite_step("strip", tree, targets, strip, smoke, work / "stash-strip"))
    return steps


def _all_at_once(
    tree: Path,
    smoke: SmokeCheck,
    work: Path,
    strip: Rewriter | None,
    strip_unavailable: str,
    on_step: Callable[[str], None],
) -> list[SlimStep] | None:
    """The steps applied in order with no check between them, then one check: the steps, or
    None with the tree exactly as it was before (nothing removed, no file rewritten)."""
    steps: list[SlimStep] = []
    moves: list[list[tuple[Path, Path]]] = []
    for i, (name, finder) in enumerate(REMOVALS):
        on_step(name)
        targets = finder(tree)
        if not targets:
            steps.append(SlimStep(name, "skipped", 0, 0, "nothing to remove"))
            continue
        saved = _size(targets)
        moves.append(_move_aside(tree, targets, work / f"together-{i}"))
        steps.append(SlimStep(name, "applied", saved, len(targets)))
    on_step("strip")
    stripped = _strip_in_place(tree, strip, strip_unavailable, work / "together-strip")
    steps.append(stripped[0])
    ok, detail = smoke(tree)
    if not ok:
        if stripped[1]:
            _copy_back(tree, stripped[1], work / "together-strip")
        for moved in reversed(moves):
            _put_back(moved)
        return None
    for stash in work.glob("together-*"):
        shutil.rmtree(stash, ignore_errors=True)
    return [s if s.status != "applied" else replace(s, detail=detail) for s in steps]


def _strip_in_place(
    tree: Path, strip: Rewriter | None, unavailable: str, stash: Path
) -> tuple[SlimStep, list[Path]]:
    """The strip step before its check, and the files it rewrote (their originals in stash)."""
    if strip is None:
        return SlimStep("strip", "skipped", 0, 0, unavailable), []
    targets = find_own_shared_objects(tree)
    if not targets:
        return SlimStep("strip", "skipped", 0, 0, "nothing to rewrite"), []
    before = _size(targets)
    _copy_aside(tree, targets, stash)
    problem = strip(targets)
    if problem:
        _copy_back(tree, targets, stash)
        return SlimStep("strip", "reverted", 0, len(targets), f"kept the originals: {problem}"), []
    return SlimStep("strip", "applied", before - _size(targets), len(targets)), targets
