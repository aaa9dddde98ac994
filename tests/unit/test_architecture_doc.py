"""docs/ARCHITECTURE.md cannot drift: every module of mlayer and of the function is listed in
its tables, and every module a table names exists.

A row's first cell names modules (``relink.py``, ``cli/group.py``) or a package (``rollout/``);
a package row names its modules in its job cell, as ``plan.py`` or ``plan``.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "ARCHITECTURE.md"
ROOTS = {"mlayer": REPO / "mlayer", "function": REPO / "function" / "mlayer_function"}
TICKED = re.compile(r"`([^`]+)`")
BARE_MODULE = re.compile(r"(?<![`\w/.])([\w/]+\.py)\b")  # convert.py, written without ticks


def all_modules() -> set[Path]:
    """Every module but the two packages' own ``__init__.py`` (a docstring each)."""
    found = set()
    for root in ROOTS.values():
        found.update(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)
        found.discard(root / "__init__.py")
    return found


def table_rows() -> list[tuple[Path, str, str]]:
    """(the section's package folder, first cell, job cell) of each row of the module tables."""
    rows, base = [], None
    for line in DOC.read_text().splitlines():
        if line.startswith("## "):
            base = next(
                (
                    ROOTS[k]
                    for h, k in (("## mlayer/", "mlayer"), ("## function/", "function"))
                    if line.startswith(h)
                ),
                None,
            )
        elif base and line.startswith("| `"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows.append((base, cells[0], " | ".join(cells[1:])))
    return rows


def listed_and_gone() -> tuple[set[Path], list[str]]:
    listed: set[Path] = set()
    gone: list[str] = []
    for base, first, job in table_rows():
        for name in TICKED.findall(first):
            path = base / name
            if name.endswith("/"):
                if not path.is_dir():
                    gone.append(name)
                    continue
                listed.add(path / "__init__.py")
                for token in TICKED.findall(job) + BARE_MODULE.findall(job):
                    stem = token.removesuffix(".py")
                    for candidate in (path / f"{stem}.py", base / f"{stem}.py"):
                        if candidate.is_file() and (candidate.parent == path or "/" in stem):
                            listed.add(candidate)
                    if token.endswith(".py") and not (
                        (path / token).is_file() or (base / token).is_file()
                    ):
                        gone.append(f"{name}{token}")
            elif path.is_file():
                listed.add(path)
            else:
                gone.append(name)
    return listed, gone


def test_the_doc_has_both_tables():
    rows = table_rows()
    assert {base for base, _, _ in rows} == set(ROOTS.values())
    assert len(rows) > 40


def test_every_module_is_listed_in_the_architecture_doc():
    listed, _ = listed_and_gone()
    missing = sorted(p.relative_to(REPO).as_posix() for p in all_modules() - listed)
    assert missing == []


def test_every_module_the_architecture_doc_lists_exists():
    _, gone = listed_and_gone()
    assert gone == []
