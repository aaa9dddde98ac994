"""Same files, same zip bytes: order, timestamps and modes never depend on the machine."""

import os
import zipfile

from mlayer.model.packaging import zip_tree


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


def test_modes_are_fixed_and_progress_counts_every_byte(tmp_path):
    a = _tree(tmp_path / "a", ["a.py", "tool"])
    (a / "pkg" / "a.py").chmod(0o600)
    (a / "pkg" / "tool").chmod(0o775)
    seen = []
    info = zip_tree(tmp_path / "a.zip", a, on_bytes=lambda done, total: seen.append((done, total)))
    with zipfile.ZipFile(info.path) as zf:
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in zf.infolist()}
    assert modes == {"pkg/a.py": 0o644, "pkg/tool": 0o755}
    assert seen[-1] == (info.unzipped_size, info.unzipped_size) and len(seen) == 2
