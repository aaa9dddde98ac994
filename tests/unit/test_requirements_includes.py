"""The build cache key covers what a requirements file pulls in with -r and -c."""

from __future__ import annotations

import hashlib

from mlayer.build.requirements import included_files, read_requirements


def _write(path, text):
    path.write_text(text)
    return path


def test_a_file_without_includes_keys_on_its_own_bytes(tmp_path):
    req = _write(tmp_path / "req.txt", "scikit-learn==1.7.2\n")
    assert read_requirements(req).inputs_sha256 == hashlib.sha256(req.read_bytes()).hexdigest()


def test_an_edit_to_a_constraints_or_included_file_changes_the_key(tmp_path):
    (tmp_path / "sub").mkdir()
    base = _write(tmp_path / "sub" / "base.txt", "numpy==2.2.6\n")
    cons = _write(tmp_path / "cons.txt", "scipy==1.15.3\n")
    req = _write(tmp_path / "req.txt", "-r sub/base.txt\n--constraint=cons.txt\nscikit-learn\n")
    first = read_requirements(req).inputs_sha256
    assert read_requirements(req).inputs_sha256 == first  # stable
    base.write_text("numpy==2.2.5\n")
    second = read_requirements(req).inputs_sha256
    assert second != first
    cons.write_text("scipy==1.15.2\n")
    assert read_requirements(req).inputs_sha256 not in (first, second)
    # the file's own sha stays the sha of its bytes (the lock reports it)
    assert read_requirements(req).sha256 == hashlib.sha256(req.read_bytes()).hexdigest()


def test_nested_cyclic_and_missing_includes_terminate(tmp_path):
    a = _write(tmp_path / "a.txt", "-r b.txt\nscikit-learn\n")
    _write(tmp_path / "b.txt", "-c a.txt\n-r gone.txt\n")
    key = read_requirements(a).inputs_sha256
    _write(tmp_path / "gone.txt", "joblib==1.5.1\n")
    assert read_requirements(a).inputs_sha256 != key  # a file appearing changes the key too


def test_includes_are_found_in_every_spelling_and_urls_ignored(tmp_path):
    text = "-r x.txt\n--requirement y.txt\n-cz.txt\n  --constraint   w.txt  # note\n-r https://h/r.txt\n"
    names = [p.name for p in included_files(tmp_path / "req.txt", text)]
    assert names == ["x.txt", "y.txt", "z.txt", "w.txt"]
