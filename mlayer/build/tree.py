"""Facts read from an installed ``python/`` tree: distributions, versions, modules, sizes."""

from __future__ import annotations

import os
from email.parser import HeaderParser
from pathlib import Path

from mlayer.build.requirements import canonical_name
from mlayer.model.packaging import tree_size

_NOT_MODULES = {"bin", "__pycache__", "share", "include", "lib"}


def installed_distributions(tree: Path) -> dict[str, str]:
    """Canonical name -> version, from every ``*.dist-info/METADATA`` at the top of the tree."""
    found: dict[str, str] = {}
    for dist in sorted(tree.glob("*.dist-info")):
        meta = dist / "METADATA"
        if not meta.is_file():
            continue
        headers = HeaderParser().parsestr(meta.read_text(encoding="utf-8", errors="replace"))
        if headers.get("Name") and headers.get("Version"):
            found[canonical_name(headers["Name"])] = headers["Version"].strip()
    return dict(sorted(found.items()))


def top_level_modules(tree: Path) -> list[str]:
    """Importable top-level names: packages (with __init__.py), modules and extension modules."""
    names: set[str] = set()
    for entry in tree.iterdir():
        name = entry.name
        if (
            name in _NOT_MODULES
            or name.startswith(".")
            or name.endswith((".dist-info", ".libs", ".data"))
        ):
            continue
        if entry.is_dir() and (entry / "__init__.py").is_file():
            names.add(name)
        elif entry.is_file() and name.endswith(".py"):
            names.add(name[:-3])
        elif entry.is_file() and name.endswith(".so"):
            names.add(name.split(".", 1)[0])
    return sorted(n for n in names if n.isidentifier() and not n.startswith("_"))


def dir_size(path: Path) -> int:
    """Bytes of a file, or of all regular files below a folder."""
    return path.stat().st_size if path.is_file() else tree_size(path)


def owners(tree: Path) -> dict[str, str]:
    """Top-level entry -> the distribution that installed it (from each dist-info RECORD)."""
    owner: dict[str, str] = {}
    for dist in sorted(tree.glob("*.dist-info")):
        name = canonical_name(dist.name[: -len(".dist-info")].rsplit("-", 1)[0])
        owner[dist.name] = name
        record = dist / "RECORD"
        if not record.is_file():
            continue
        for line in record.read_text(encoding="utf-8", errors="replace").splitlines():
            first = line.split(",", 1)[0].split("/", 1)[0]
            if first and not first.startswith(".."):
                owner.setdefault(first, name)
    return owner


def package_sizes(tree: Path) -> dict[str, int]:
    """Bytes per distribution (``numpy`` includes ``numpy.libs`` and its dist-info)."""
    owner = owners(tree)
    sizes: dict[str, int] = {}
    for entry in tree.iterdir():
        if entry.name == "__pycache__" and entry.is_dir():
            # pycs of top-level modules belong to the module's distribution
            for pyc in entry.iterdir():
                name = owner.get(pyc.name.split(".", 1)[0] + ".py", entry.name)
                sizes[name] = sizes.get(name, 0) + pyc.stat().st_size
            continue
        name = owner.get(entry.name, entry.name)
        sizes[name] = sizes.get(name, 0) + dir_size(entry)
    return dict(sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0])))
