"""Unpacking layer zips into the private /opt: Lambda's order, and no entry may escape."""

from __future__ import annotations

import fcntl
import io
import os
import stat
import zipfile

import pytest

from mlayer.errors import LocalRuntimeError
from mlayer.local import opt


def make_zip(entries: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return buf.getvalue()


@pytest.mark.parametrize(
    "name",
    ["/etc/passwd", "../outside.txt", "python/../../outside.txt", "C:/x.txt", "a\\..\\..\\b"],
)
def test_entries_that_escape_are_refused_and_nothing_is_written(tmp_path, name):
    data = make_zip({"python/ok.py": b"x = 1\n", name: b"evil"})
    with pytest.raises(LocalRuntimeError, match="refusing|outside"):
        opt.extract(data, tmp_path / "opt")
    assert not (tmp_path / "opt").exists() or not any((tmp_path / "opt").rglob("*"))
    assert not (tmp_path / "outside.txt").exists()


def test_symbolic_links_are_refused(tmp_path):
    data = make_zip({"python/ok.py": b""}, links={"python/evil": "/etc"})
    with pytest.raises(LocalRuntimeError, match="symbolic link"):
        opt.extract(data, tmp_path / "opt")


def test_a_link_already_in_the_directory_cannot_be_written_through(tmp_path):
    dest = tmp_path / "opt"
    dest.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (dest / "python").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(LocalRuntimeError, match="outside"):
        opt.extract(make_zip({"python/x.py": b"1"}), dest)
    assert not (tmp_path / "elsewhere" / "x.py").exists()


def test_later_layers_overwrite_earlier_ones_in_order(tmp_path):
    first = make_zip({"python/shared.py": b"who = 'deps'\n", "python/only_deps.py": b""})
    second = make_zip({"python/shared.py": b"who = 'model'\n", "mlayer/manifest.json": b"{}"})
    zips = [first, second]
    out = opt.materialize(tmp_path / "cache", ["a" * 64, "b" * 64], lambda i: zips[i])
    assert (out / "python/shared.py").read_text() == "who = 'model'\n"
    assert (out / "python/only_deps.py").exists() and (out / "mlayer/manifest.json").exists()


def test_materialize_builds_once_per_set_of_zips(tmp_path):
    calls = []

    def load(i):
        calls.append(i)
        return make_zip({"f.txt": b"1"})

    a = opt.materialize(tmp_path, ["c" * 64], load)
    b = opt.materialize(tmp_path, ["c" * 64], load)
    assert a == b and calls == [0]
    assert opt.materialize(tmp_path, ["c" * 64, "d" * 64], load) != a


class FakeGateway:
    def __init__(self, objects):
        self.objects = objects

    def get_bytes(self, bucket, key):
        from mlayer.errors import NotFoundError

        if key not in self.objects:
            raise NotFoundError(f"no {key}")
        return self.objects[key]


def test_fetch_checks_the_sha256_and_explains_a_missing_zip():
    import hashlib

    data = make_zip({"a": b"1"})
    sha = hashlib.sha256(data).hexdigest()
    art = opt.Artifact("arn:layer:1", sha, f"layers/{sha}.zip", "s3://")
    assert opt.fetch(FakeGateway({art.key: data}), "b", art) == data
    with pytest.raises(LocalRuntimeError, match="sha256"):
        opt.fetch(FakeGateway({art.key: b"other"}), "b", art)
    with pytest.raises(LocalRuntimeError, match="not in s3://b/layers/"):
        opt.fetch(FakeGateway({}), "b", art)


def test_fetch_falls_back_to_a_real_url():
    import contextlib
    import hashlib

    data = make_zip({"a": b"1"})
    sha = hashlib.sha256(data).hexdigest()
    art = opt.Artifact(
        "arn:layer:1", sha, f"layers/{sha}.zip", "https://awslambda.example/layer.zip"
    )
    seen = []

    def urlopen(url, timeout):
        seen.append(url)
        return contextlib.nullcontext(io.BytesIO(data))

    assert opt.fetch(FakeGateway({}), "b", art, urlopen=urlopen) == data
    assert seen == [art.location]


def test_each_zip_is_unpacked_once_and_sets_share_its_files_by_link(tmp_path):
    calls = []
    zips = {
        "d": make_zip({"python/numpy.py": b"deps\n", "python/pkg/x.py": b""}),
        "m1": make_zip({"mlayer/manifest.json": b"1"}),
        "m2": make_zip({"mlayer/manifest.json": b"2", "python/pkg": b"a file now"}),
    }
    names = list(zips)

    def load(i):
        calls.append(names[i])
        return zips[names[i]]

    one = opt.materialize(tmp_path / "opt", ["d" * 64, "1" * 64], lambda i: load([0, 1][i]))
    two = opt.materialize(tmp_path / "opt", ["d" * 64, "2" * 64], lambda i: load([0, 2][i]))
    assert calls == ["d", "m1", "m2"]  # the deps zip unpacked once for both sets
    assert (one / "mlayer/manifest.json").read_text() == "1"
    assert (two / "mlayer/manifest.json").read_text() == "2"
    assert (one / "python/numpy.py").stat().st_ino == (two / "python/numpy.py").stat().st_ino
    assert (one / "python/pkg").is_dir() and (two / "python/pkg").read_bytes() == b"a file now"
    assert (tmp_path / "unpacked" / ("d" * 64) / "python/pkg/x.py").is_file()  # store untouched


def test_a_failed_unpack_leaves_nothing_half_built(tmp_path):
    def load(i):
        if i == 1:
            raise OSError("the bucket went away")
        return make_zip({"f.txt": b"1"})

    with pytest.raises(OSError, match="went away"):
        opt.materialize(tmp_path / "opt", ["e" * 64, "f" * 64], load)
    assert not (tmp_path / "unpacked" / ("f" * 64)).exists()
    assert not (tmp_path / "opt").exists() or not [
        p for p in (tmp_path / "opt").iterdir() if not p.name.endswith(".lock")
    ]
    again = opt.materialize(tmp_path / "opt", ["e" * 64, "f" * 64], lambda i: make_zip({"g": b""}))
    assert (again / "g").is_file()


def _age(entry, days):
    marker = entry / ".mlayer-complete"
    then = marker.stat().st_mtime - days * 86400
    os.utime(marker, (then, then))


def test_sets_and_zips_unused_for_two_weeks_go_when_another_is_made(tmp_path):
    zips = [make_zip({f"f{i}.txt": b"x"}) for i in range(4)]
    old = opt.materialize(tmp_path / "opt", ["a" * 64, "1" * 64], lambda i: zips[i])
    used = opt.materialize(tmp_path / "opt", ["a" * 64, "2" * 64], lambda i: zips[[0, 2][i]])
    building = opt.materialize(tmp_path / "opt", ["a" * 64, "3" * 64], lambda i: zips[[0, 3][i]])
    for entry in (old, used, building, tmp_path / "unpacked" / ("1" * 64)):
        _age(entry, 15)
    again = opt.materialize(tmp_path / "opt", ["a" * 64, "2" * 64], lambda i: zips[[0, 2][i]])
    assert again == used  # a use makes it recent again
    with open(tmp_path / "opt" / f"{building.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process holds it: never touched
        opt.materialize(tmp_path / "opt", ["b" * 64, "2" * 64], lambda i: zips[[1, 2][i]])
    assert not old.exists() and used.exists() and building.exists()
    assert (used / "f0.txt").read_bytes() == b"x"  # its links outlive any zip evicted
    assert not (tmp_path / "unpacked" / ("1" * 64)).exists()  # its zip went when "b" came
    assert (tmp_path / "unpacked" / ("a" * 64)).exists()  # used by every set: recent


def test_the_entry_just_made_is_never_evicted_and_a_fresh_one_stays(tmp_path):
    made = opt.materialize(tmp_path / "opt", ["c" * 64], lambda i: make_zip({"g": b""}))
    assert opt.evict_idle(tmp_path / "unpacked", keep=made.name, idle_days=0) == []
    assert opt.evict_idle(tmp_path / "unpacked", keep="", idle_days=1) == []
    assert opt.evict_idle(tmp_path / "unpacked", keep="", idle_days=-1) == [made.name]
    assert not made.exists()
    rebuilt = opt.materialize(tmp_path / "opt", ["c" * 64], lambda i: make_zip({"g": b""}))
    assert (rebuilt / "g").is_file()
