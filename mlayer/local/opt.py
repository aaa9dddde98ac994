"""The function's /opt and task root, rebuilt privately from the real zips.

Layers are fetched by sha256 from the artifact bucket (``layers/<sha256>.zip``; moto's
Content.Location is a bare ``s3://``), or from Content.Location when it is a real http(s) URL,
and unpacked in the function's layer order so later layers overwrite earlier files, as on
Lambda. A zip is untrusted input: entries that would land outside the directory (absolute
paths, ``..``, symbolic links) are refused rather than skipped, so a bad layer is noticed.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import os
import shutil
import stat
import tempfile
import time
import urllib.request
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from mlayer.errors import LocalRuntimeError, NotFoundError
from mlayer.gateway import code_sha256_to_hex

_MARKER = ".mlayer-complete"
IDLE_DAYS = 14.0  # an unpacked zip or a set of them unused this long is removed


@dataclass(frozen=True)
class Artifact:
    """One zip the function needs: where it is known from, its hex sha256 and its bucket key."""

    arn: str
    sha256: str
    key: str
    location: str = ""


def layer_artifact(gateway: Any, arn: str) -> Artifact:
    """A layer version's zip, found from its ARN alone (CodeSha256 is base64 of the digest)."""
    layer, _, version = arn.rpartition(":")  # moto has no GetLayerVersionByArn; both accept this
    content = gateway.get_layer_version(layer, int(version))["Content"]
    sha = code_sha256_to_hex(content["CodeSha256"])
    return Artifact(
        arn=arn, sha256=sha, key=f"layers/{sha}.zip", location=content.get("Location", "")
    )


def function_artifact(config: dict[str, Any]) -> Artifact:
    sha = code_sha256_to_hex(config["CodeSha256"])
    return Artifact(arn=config["FunctionArn"], sha256=sha, key=f"functions/{sha}.zip")


def fetch(
    gateway: Any, bucket: str, art: Artifact, urlopen: Callable[..., Any] = urllib.request.urlopen
) -> bytes:
    """The zip's bytes from the bucket (or a real URL), checked against its sha256."""
    try:
        data: bytes = gateway.get_bytes(bucket, art.key)
    except NotFoundError:
        if not art.location.startswith(("http://", "https://")):
            raise LocalRuntimeError(
                f"{art.arn}: its zip is not in s3://{bucket}/{art.key} and AWS gives no URL for it "
                f"(Content.Location is {art.location!r}).",
                "Publish layers and deploy the function with mlayer, which keeps every zip in the "
                "artifact bucket by its sha256; or set [artifacts] bucket to the bucket that has them.",
            ) from None
        with urlopen(art.location, timeout=120) as resp:
            data = resp.read()
    got = hashlib.sha256(data).hexdigest()
    if got != art.sha256:
        raise LocalRuntimeError(
            f"{art.arn}: the zip fetched from {art.key} has sha256 {got[:12]}…, AWS says {art.sha256[:12]}….",
            "The artifact bucket holds a different file under that key; re-publish the layer.",
        )
    return data


def check_entry(info: zipfile.ZipInfo) -> PurePosixPath:
    """The entry's relative path, or LocalRuntimeError when it would escape its directory."""
    name = info.filename.replace("\\", "/")
    path = PurePosixPath(name)
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise LocalRuntimeError(
            f"Zip entry {name!r} is a symbolic link; refusing to unpack it.",
            "Rebuild the zip without links (mlayer's zips never hold any).",
        )
    if path.is_absolute() or (len(name) > 1 and name[1] == ":"):
        raise LocalRuntimeError(
            f"Zip entry {name!r} has an absolute path; refusing to unpack it.",
            "Rebuild the zip with paths relative to its root.",
        )
    if ".." in path.parts:
        raise LocalRuntimeError(
            f"Zip entry {name!r} climbs out with '..'; refusing to unpack it.",
            "Rebuild the zip with paths inside its root.",
        )
    return path


def extract(data: bytes, dest: Path) -> int:
    """Unpack a zip into dest (overwriting files), every entry checked first. Returns file count."""
    dest = Path(dest)
    root = dest.resolve()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        infos = zf.infolist()
        paths = [check_entry(i) for i in infos]  # refuse before writing anything
        count = 0
        for info, rel in zip(infos, paths, strict=True):
            target = (dest / rel).resolve()
            if target != root and root not in target.parents:  # a link planted by an earlier layer
                raise LocalRuntimeError(
                    f"Zip entry {info.filename!r} resolves outside {dest}.",
                    "Rebuild the zip with paths inside its root.",
                )
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.is_dir():
                shutil.rmtree(target)
            with zf.open(info) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                os.chmod(target, mode | 0o400)
            count += 1
    return count


def materialize(cache: Path, shas: Sequence[str], load: Callable[[int], bytes]) -> Path:
    """A directory holding the zips unpacked in order, cached by their sha256s (built once).

    Each zip is unpacked once, into ``<cache>/../unpacked/<sha256>``; a set of several is a
    tree of hard links to those files, later zips' files replacing earlier ones as on Lambda.
    A deps layer unpacks to hundreds of MB, and every model version makes a new set: copies
    would cost that much disk (and seconds of unzipping) per model version, links cost inodes.
    ``load(i)`` returns the i-th zip's bytes; it is called only when that zip is not unpacked.
    """
    store = cache.parent / "unpacked"
    dirs = [_built(store, sha, _unpacking(load, i)) for i, sha in enumerate(shas)]
    if len(dirs) == 1:
        return dirs[0]
    key = hashlib.sha256("\n".join(shas).encode()).hexdigest()[:32]
    return _built(cache, key, lambda staging: _link_all(dirs, staging))


def _unpacking(load: Callable[[int], bytes], i: int) -> Callable[[Path], object]:
    return lambda staging: extract(load(i), staging)


def _built(cache: Path, key: str, build: Callable[[Path], object]) -> Path:
    """``cache/key``, made by ``build(staging)`` once under a lock and moved in whole."""
    target = cache / key
    if _used(target):
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _used(target):
            return target
        staging = Path(tempfile.mkdtemp(prefix=f"{key}-", dir=cache))
        try:
            build(staging)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        (staging / _MARKER).write_text(key + "\n")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
    evict_idle(cache, keep=key)
    return target


def _used(target: Path) -> bool:
    """The entry is complete; its marker's time becomes now (what eviction judges by)."""
    try:
        os.utime(target / _MARKER)
    except OSError:
        return False
    return True


def evict_idle(cache: Path, keep: str, idle_days: float = IDLE_DAYS) -> list[str]:
    """Entries of ``cache`` no emulation has used for ``idle_days``, removed (``keep`` never):
    every model version makes a new set, and nothing else would ever delete one. An entry
    being built (its lock held) is skipped; a set's hard links keep their files when the zip
    they came from is evicted. Returns the keys removed."""
    cutoff = time.time() - idle_days * 86400
    removed = []
    for marker in cache.glob(f"*/{_MARKER}"):
        key = marker.parent.name
        if key == keep or _mtime(marker) > cutoff:
            continue
        with open(cache / f"{key}.lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue
            if _mtime(marker) > cutoff:  # used meanwhile
                continue
            marker.unlink(missing_ok=True)  # incomplete from here on: a reader rebuilds it
            shutil.rmtree(marker.parent, ignore_errors=True)
            removed.append(key)
    return removed


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return float("inf")  # gone already: nothing to judge


def _link_all(sources: Sequence[Path], dest: Path) -> None:
    """Each source tree linked into ``dest`` in order; a later file or folder replaces an earlier."""
    for source in sources:
        for here, folders, files in os.walk(source):
            rel = Path(here).relative_to(source)
            for name in folders:
                _make_folder(dest / rel / name)
            for name in files:
                if rel == Path(".") and name == _MARKER:
                    continue
                _link_file(Path(here, name), dest / rel / name)


def _make_folder(path: Path) -> None:
    if path.is_file():
        path.unlink()
    path.mkdir(exist_ok=True)


def _link_file(source: Path, path: Path) -> None:
    """``path`` made a link to ``source`` (a copy where the file system refuses links)."""
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
    try:
        os.link(source, path)
    except OSError:
        shutil.copy2(source, path)
