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


def _files(tree: Path) -> dict[str, bytes]:
    return {p.relative_to(tree).as_posix(): p.read_bytes() for p in tree.rglob("*") if p.is_file()}


def test_safe_steps_are_proven_by_one_check_and_end_as_one_at_a_time_would(tmp_path):
    calls: list[int] = []

    def always(_t: Path):
        calls.append(1)
        return True, "imported 1 module"

    together = _tree(tmp_path / "a" / "python")
    steps = slim_tree(together, always, tmp_path / "a" / "work", None, "no strip")
    assert len(calls) == 1
    assert all(s.detail == "imported 1 module" for s in steps if s.status == "applied")

    def fails_first(_t: Path):  # the shared check fails once: the steps run one at a time
        calls.append(1)
        return len(calls) > 2, "imported 1 module"

    alone = _tree(tmp_path / "b" / "python")
    one_by_one = slim_tree(alone, fails_first, tmp_path / "b" / "work", None, "no strip")
    assert len(calls) == 2 + 4  # the failed shared check, then one per step with targets
    assert _files(together) == _files(alone)
    assert [(s.name, s.status, s.bytes_saved, s.files) for s in steps] == [
        (s.name, s.status, s.bytes_saved, s.files) for s in one_by_one
    ]
    assert not list((tmp_path / "a").glob("work/*"))  # no stash is left behind


def test_a_failed_shared_check_puts_every_file_back_before_the_steps_run_alone(tmp_path):
    tree = _tree(tmp_path / "python")
    before = _files(tree)
    seen: list[dict[str, bytes]] = []

    def smoke(t: Path):
        if not seen:
            seen.append(_files(t))
            return False, "the shared check failed"
        seen.append(_files(t))
        return False, "every step breaks it"

    steps = slim_tree(tree, smoke, tmp_path / "work", None, "no strip")
    assert len(seen[0]) < len(before)  # the shared check saw every step applied
    assert seen[1] == {k: v for k, v in before.items() if "__pycache__" not in k}  # then one step
    assert _files(tree) == before and all(s.status in ("reverted", "skipped") for s in steps)
