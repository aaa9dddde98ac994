"""Same files, same zip bytes: order, timestamps and modes never depend on the machine."""

import os
import zipfile

from mlayer.packaging import zip_tree


def _tree(root, order):
    for name in order:
        path = root / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# {name}\n")
    return root


def test_same_inputs_same_sha256_whatever_the_order_and_mtimes(tmp_path):
    a = _tree(tmp_path / "a", ["b.py", "a.py", "sub/c.py"])
    b = _tree(tmp_path / "b", ["sub/c.py", "a.py", "b.py"])
    os.utime(b / "pkg" / "a.py", (1_000_000_000, 1_000_000_000))
    za = zip_tree(tmp_path / "a.zip", a, prefix="python/")
    zb = zip_tree(tmp_path / "b.zip", b, prefix="python/")
    assert za.sha256 == zb.sha256
    with zipfile.ZipFile(za.path) as zf:
        names = zf.namelist()
        assert names == sorted(names) and names[0] == "python/pkg/a.py"
        assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_content_changes_the_sha256(tmp_path):
    a = _tree(tmp_path / "a", ["a.py"])
    first = zip_tree(tmp_path / "1.zip", a).sha256
    (a / "pkg" / "a.py").write_text("changed\n")
    assert zip_tree(tmp_path / "2.zip", a).sha256 != first
