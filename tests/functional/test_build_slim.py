"""Slimming steps on a small fake tree: measured, kept only when the smoke check passes."""

from __future__ import annotations

from pathlib import Path

from mlayer.build.checks import static_check
from mlayer.build.slim import find_tests, slim_tree


def _tree(root: Path) -> Path:
    files = {
        "pkg/__init__.py": "from pkg import core\n",
        "pkg/core.py": "x = 1\n",
        "pkg/_src.pyx": "# cython\n" * 50,
        "pkg/include/pkg.h": "/* header */\n" * 50,
        "pkg/tests/__init__.py": "",
        "pkg/tests/test_core.py": "def test(): pass\n" * 100,
        "pkg/tests/_helpers.py": "NA = None\n",
        "pkg/testing.py": "from pkg.tests._helpers import NA\n",
        "pkg/__pycache__/core.cpython-311.pyc": "x" * 100,
        "pkg.libs/libfoo.so": "not an elf",
        "pkg-1.0.dist-info/METADATA": "Name: pkg\nVersion: 1.0\n",
        "bin/pkg-tool": "#!/usr/bin/python\n",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_tests_folders_keep_what_the_package_imports(tmp_path):
    tree = _tree(tmp_path / "python")
    removed = {p.relative_to(tree).as_posix() for p in find_tests(tree)}
    assert removed == {"pkg/tests/test_core.py"}


def test_every_step_is_measured_and_vendored_libs_are_untouched(tmp_path):
    tree = _tree(tmp_path / "python")
    steps = slim_tree(tree, static_check(["pkg"], "x86_64"), tmp_path / "work", None, "no strip")
    by_name = {s.name: s for s in steps}
    assert by_name["__pycache__"].status == "applied" and by_name["__pycache__"].bytes_saved == 100
    assert by_name["tests folders"].bytes_saved > 0
    assert by_name["build sources"].files == 2
    assert by_name["strip"].status == "skipped" and by_name["strip"].detail == "no strip"
    assert (tree / "pkg.libs" / "libfoo.so").exists()
    assert (tree / "pkg-1.0.dist-info" / "METADATA").exists()
    assert (tree / "pkg" / "tests" / "_helpers.py").exists()


def test_a_step_that_breaks_the_layer_is_reverted(tmp_path):
    tree = _tree(tmp_path / "python")

    def smoke(t: Path):
        ok = (t / "pkg" / "include" / "pkg.h").exists()
        return ok, "ok" if ok else "pkg.h is needed"

    steps = slim_tree(tree, smoke, tmp_path / "work", None, "no strip")
    sources = next(s for s in steps if s.name == "build sources")
    assert sources.status == "reverted" and sources.bytes_saved == 0
    assert "pkg.h is needed" in sources.detail
    assert (tree / "pkg" / "_src.pyx").exists() and (tree / "pkg" / "include" / "pkg.h").exists()
