"""The unzipped size of a zip in the artifact bucket, read from its central directory alone
(publishing/store.py): one suffix-range GET of its tail, a second ranged GET only when the
directory starts before that tail; compared with zipfile's own sums on the embedded AWS."""

from __future__ import annotations

import io
import zipfile

from publish_support import BUCKET

from mlayer.publishing.store import ArtifactStore


def _zip(entries: int, size: int) -> tuple[bytes, int]:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(entries):
            zf.writestr(f"python/package_{i:05d}/" + "m" * 60 + ".py", b"x" * size)
    data = buf.getvalue()
    return data, sum(i.file_size for i in zipfile.ZipFile(io.BytesIO(data)).infolist())


def test_sizes_from_the_tail_and_from_a_directory_longer_than_the_tail(gw):
    gw.ensure_bucket(BUCKET)
    small, small_size = _zip(3, 1000)
    many, many_size = _zip(1500, 10)  # ~150 KB of central directory: more than the 64 KB tail
    gw.put_bytes(BUCKET, "layers/small.zip", small)
    gw.put_bytes(BUCKET, "layers/many.zip", many)
    gw.put_bytes(BUCKET, "layers/empty.zip", b"")
    store = ArtifactStore(gw, BUCKET)
    assert store.zip_unzipped_size("small") == small_size == 3000
    assert store.zip_unzipped_size("many") == many_size == 15000
    assert store.zip_unzipped_size("empty") is None
    assert store.zip_unzipped_size("absent") is None


def test_get_tail_answers_the_size_with_the_bytes(gw):
    gw.ensure_bucket(BUCKET)
    gw.put_bytes(BUCKET, "k", b"0123456789")
    assert gw.get_tail(BUCKET, "k", 4) == (b"6789", 10)
    assert gw.get_tail(BUCKET, "k", 100) == (b"0123456789", 10)  # shorter than asked: all of it
    assert gw.get_tail(BUCKET, "absent", 4) is None
