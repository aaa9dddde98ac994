"""Reading a file's imports with ``ast``: every statement at any depth, none executed."""

from __future__ import annotations

import ast
import sysconfig
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from mlayer.build.imports import _statements, imports_of

STDLIB = sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(STDLIB))
def test_the_statement_walk_finds_what_ast_walk_finds(path):
    tree = ast.parse(path.read_bytes())
    every = [n for n in ast.walk(tree) if isinstance(n, ast.stmt)]
    assert sorted(map(id, _statements(tree.body))) == sorted(map(id, every))


def test_imports_in_every_kind_of_block_are_found(tmp_path):
    source = """
import top
try:
    import in_try
except ImportError:
    from pkg import in_except
else:
    import in_else
finally:
    import in_finally
def f():
    class C:
        import in_class
    with open("x"):
        import in_with
match f:
    case 1:
        import in_case
lambda: __import__("not_a_statement")
from . import sibling
from .tests._helpers import NA
"""
    path = tmp_path / "pkg" / "mod.py"
    path.parent.mkdir()
    path.write_text(source)
    modules, maybe = imports_of(path, Path("pkg/mod.py"), unconditional=False)
    assert modules == {
        "top",
        "in_try",
        "pkg",
        "in_else",
        "in_finally",
        "in_class",
        "in_with",
        "in_case",
        "pkg.tests._helpers",
    }
    assert {"pkg.in_except", "pkg.sibling", "pkg.tests._helpers.NA"} <= maybe
    top_only, _ = imports_of(path, Path("pkg/mod.py"), unconditional=True)
    assert top_only == {"top", "pkg", "pkg.tests._helpers"}
