"""Deterministic zips: the same files give the same bytes, so the same sha256.

Layer versions are compared by sha256 (re-publishing identical content is a no-op), so entry
order, timestamps and modes must not depend on the machine or the clock.
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

# 1980-01-01 is the earliest time a zip can hold; any fixed value would do.
FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o644
EXEC_MODE = 0o755


@dataclass(frozen=True)
class ZipInfo:
    path: Path
    sha256: str
    zipped_size: int
    unzipped_size: int
    entries: int


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def code_sha256_to_hex(code_sha256: str) -> str:
    """Lambda reports a zip's sha256 as base64 of the digest; mlayer keys things by hex."""
    return base64.b64decode(code_sha256).hex()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tree_size(root: str | os.PathLike[str]) -> int:
    """Bytes of all regular files below root (what Lambda counts as unzipped size)."""
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            p = os.path.join(dirpath, name)
            if not os.path.islink(p):
                total += os.path.getsize(p)
    return total


def iter_tree(root: Path, prefix: str = "") -> list[tuple[str, Path]]:
    """(archive name, file) pairs for every regular file below root, sorted by archive name."""
    pairs = []
    for dirpath, dirs, files in os.walk(root):
        dirs.sort()
        for name in files:
            full = Path(dirpath) / name
            if full.is_symlink() or not full.is_file():
                continue
            rel = full.relative_to(root).as_posix()
            pairs.append((f"{prefix}{rel}" if prefix else rel, full))
    pairs.sort(key=lambda p: p[0])
    return pairs


def write_zip(
    dest: str | os.PathLike[str],
    entries: Iterable[tuple[str, Path | bytes]],
    compresslevel: int = 9,
    on_bytes: Callable[[int, int], None] | None = None,
) -> ZipInfo:
    """Write (archive name, file path or bytes) entries sorted, with fixed time and modes.

    ``on_bytes(done, total)`` is told the uncompressed bytes written so far, after each entry.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    items = sorted(entries, key=lambda e: e[0])
    names = [name for name, _ in items]
    if len(names) != len(set(names)):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"duplicate zip entries: {dupes[:5]}")
    unzipped = 0
    total = sum(len(src) if isinstance(src, bytes) else src.stat().st_size for _, src in items)
    tmp = dest.with_suffix(dest.suffix + ".tmp")
    with zipfile.ZipFile(
        tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=compresslevel
    ) as zf:
        for name, src in items:
            info = zipfile.ZipInfo(name, date_time=FIXED_DATE_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, so external_attr modes are honoured on extract
            if isinstance(src, bytes):
                data, mode = src, FILE_MODE
            else:
                data = src.read_bytes()
                mode = EXEC_MODE if os.stat(src).st_mode & stat.S_IXUSR else FILE_MODE
            info.external_attr = (stat.S_IFREG | mode) << 16
            zf.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=compresslevel)
            unzipped += len(data)
            if on_bytes is not None:
                on_bytes(unzipped, total)
    os.replace(tmp, dest)
    return ZipInfo(
        path=dest,
        sha256=sha256_file(dest),
        zipped_size=dest.stat().st_size,
        unzipped_size=unzipped,
        entries=len(items),
    )


def zip_tree(
    dest: str | os.PathLike[str],
    root: Path,
    prefix: str = "",
    compresslevel: int = 9,
    on_bytes: Callable[[int, int], None] | None = None,
) -> ZipInfo:
    """Zip every file below root, names prefixed (e.g. 'python/'), deterministically."""
    return write_zip(dest, iter_tree(Path(root), prefix), compresslevel, on_bytes)
