"""Every shared library a layer's ELF files need, found where Lambda's loader would look.

A DT_NEEDED name is satisfied by the runtime's image (system_libs.py) or by a file of the
layer in a directory the needing file's DT_RUNPATH or DT_RPATH names (``$ORIGIN`` is the
file's own directory: how auditwheel's ``<pkg>.libs/`` copies are found). A library that the
layer ships somewhere else is not found by the loader (/opt/python is on no library path),
so it is reported too, with where the layer has it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mlayer.build.elf import DynamicInfo, ElfError, is_elf, read_dynamic


@dataclass(frozen=True)
class Unmet:
    """``library`` that ``needed_by`` (a path in the layer) cannot find on Lambda."""

    needed_by: str
    library: str
    shipped_at: tuple[str, ...] = ()  # where the layer has a file of that name, off the path


@dataclass(frozen=True)
class LibScan:
    files: int  # ELF files read
    unmet: tuple[Unmet, ...]
    unreadable: tuple[tuple[str, str], ...]  # (path, reason): .so files that are not ELF


def _elf_files(tree: Path) -> list[Path]:
    """Shared objects: ``*.so`` and ``*.so.N...`` files (no symlinks followed) that are ELF."""
    found = []
    for path in sorted(tree.rglob("*.so*")):
        name = path.name
        if not (name.endswith(".so") or ".so." in name) or path.is_symlink():
            continue
        if path.is_file():
            found.append(path)
    return found


def _dirs(tree: Path, path: Path, entries: tuple[str, ...]) -> tuple[Path, ...]:
    """RPATH or RUNPATH entries as the layer's directories (``$ORIGIN``: the file's own);
    an entry outside the layer (/usr/local/lib) is this machine's, never Lambda's: ignored."""
    origin = str(path.parent)
    out = []
    for entry in entries:
        expanded = entry.replace("${ORIGIN}", origin).replace("$ORIGIN", origin)
        folder = Path(os.path.normpath(expanded))
        if folder == tree or tree in folder.parents:
            out.append(folder)
    return tuple(out)


def _read_all(tree: Path) -> tuple[dict[Path, DynamicInfo], list[tuple[str, str]]]:
    infos: dict[Path, DynamicInfo] = {}
    unreadable = []
    for path in _elf_files(tree):
        rel = path.relative_to(tree).as_posix()
        try:
            infos[path] = read_dynamic(path)
        except ElfError as exc:
            if path.suffix == ".so" or is_elf(path):  # a "*.so.txt" need not be ELF
                unreadable.append((rel, exc.reason))
        except OSError as exc:
            unreadable.append((rel, exc.strerror or str(exc)))
    return infos, unreadable


class _Loader:
    """glibc's search for one object's needs: its DT_RPATH and its loaders' (unless it has a
    DT_RUNPATH), then its DT_RUNPATH; a name already loaded by this load is found as is."""

    def __init__(self, tree: Path, infos: dict[Path, DynamicInfo], provided: frozenset[str]):
        self.tree, self.infos, self.provided = tree, infos, provided
        self.unmet: dict[tuple[Path, str], None] = {}

    def load(self, root: Path) -> None:
        loaded = {root.name, self.infos[root].soname}
        queue: list[tuple[Path, tuple[Path, ...]]] = [(root, ())]
        seen = {root}
        while queue:
            path, inherited = queue.pop(0)
            info = self.infos[path]
            chain = inherited if info.runpath else _dirs(self.tree, path, info.rpath) + inherited
            dirs = _dirs(self.tree, path, info.runpath) if info.runpath else chain
            for library in info.needed:
                if library in self.provided or library in loaded:
                    continue
                found = None
                if "/" not in library:  # a path in DT_NEEDED names no file on Lambda
                    found = next((d / library for d in dirs if (d / library).is_file()), None)
                if found is None:
                    self.unmet[(path, library)] = None
                    continue
                found = Path(os.path.realpath(found))
                child = self.infos.get(found)
                loaded.update({library, found.name, child.soname if child else None})
                if child is not None and found not in seen:
                    seen.add(found)
                    queue.append((found, chain))


def scan_layer(tree: Path, provided: frozenset[str]) -> LibScan:
    """What the ELF files of ``tree`` need that neither Lambda nor the layer (where the loader
    looks) provides. Each file no other file needs is loaded as Python or ctypes would."""
    tree = Path(os.path.realpath(tree))
    infos, unreadable = _read_all(tree)
    needed = {name for info in infos.values() for name in info.needed}
    loader = _Loader(tree, infos, provided)
    for path, info in infos.items():
        if path.name not in needed and info.soname not in needed:
            loader.load(path)
    by_name: dict[str, list[str]] = {}
    for path, info in infos.items():
        for name in {path.name, info.soname} - {None}:
            by_name.setdefault(name, []).append(path.relative_to(tree).as_posix())
    unmet = tuple(
        Unmet(path.relative_to(tree).as_posix(), library, tuple(sorted(by_name.get(library, ()))))
        for path, library in loader.unmet
    )
    return LibScan(len(infos), unmet, tuple(unreadable))
