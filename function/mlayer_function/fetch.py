"""Bring a model's S3-stored artifacts into /tmp, once per container, verified before any unpickling.

A model too big for Lambda's 250 MB layer budget keeps only its manifest in the model layer;
each artifact the manifest marks ``"store": "s3"`` lives at ``s3://<bucket>/<s3_key>``
(docs/FORMATS.md). At cold start ``materialize`` decides what to download: a warm container
or a re-init whose /tmp already holds an artifact's content-named file re-hashes it and skips
the download; the rest must fit in /tmp (checked before the first GET), and each is then
downloaded by ranged_download.py (parallel ranged GETs, verified before it gets its final name).
Failures (fetch_errors.py) name what to fix.

Standard library only at import; boto3 (the runtime's own) is imported only to download.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .fetch_errors import MIB, Entry, EphemeralStorageError, FetchError, mb
from .ranged_download import CHUNK, THREADS, download, part_size

CACHE_DIRNAME = "mlayer-models"


@dataclass
class FetchReport:
    """Where each artifact is on disk, and what the fetch cost (for the init log line)."""

    paths: dict[str, Path] = field(default_factory=dict)  # manifest "file" -> local path
    verified: set[str] = field(default_factory=set)  # files whose size+sha256 were checked here
    downloaded: int = 0
    reused: int = 0
    bytes_downloaded: int = 0
    download_ms: float = 0.0
    verify_ms: float = 0.0
    parts: int = 0

    def log_fields(self) -> dict[str, Any]:
        skip = ("paths", "verified")
        return {
            k: round(v, 3) if isinstance(v, float) else v
            for k, v in vars(self).items()
            if k not in skip
        }


def cache_dir() -> Path:
    """/tmp/mlayer-models on Lambda (TMPDIR, when set, as the local emulation does)."""
    return Path(tempfile.gettempdir()) / CACHE_DIRNAME


def local_name(entry: Entry) -> str:
    """Named by content: the same sha256 is the same file, whatever version or label."""
    return f"{entry['sha256']}{Path(str(entry.get('file', ''))).suffix}"


def free_bytes(path: Path) -> int:
    """What /tmp can still take: the file system's free space (Lambda's /tmp is its own), capped
    by MLAYER_EPHEMERAL_STORAGE_MB less what $TMPDIR holds, which the local emulation sets."""
    st = os.statvfs(path)
    cap = os.environ.get("MLAYER_EPHEMERAL_STORAGE_MB", "")
    if not cap.isdigit():
        return st.f_bavail * st.f_frsize
    used = sum(p.stat().st_size for p in Path(tempfile.gettempdir()).rglob("*") if p.is_file())
    return min(st.f_bavail * st.f_frsize, int(cap) * MIB - used)


def _check_entry(entry: Entry) -> None:
    missing = [k for k in ("file", "bucket", "s3_key", "sha256", "size") if not entry.get(k)]
    if missing and not (missing == ["size"] and entry.get("size") == 0):
        raise FetchError(
            f"manifest artifact {entry.get('file')!r} is stored in S3 but has no "
            f"{', '.join(missing)}: publish the model again with mlayer"
        )


def hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def stdout_line(line: str) -> None:
    """Lambda sends stdout to CloudWatch Logs: the fetch's own structured line goes there."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def materialize(
    manifest: Mapping[str, Any],
    model_dir: Path | str,
    *,
    client: object = None,
    directory: Path | None = None,
    space: Callable[[Path], int] = free_bytes,
    threads: int = THREADS,
    part_bytes: int | None = None,
    log: Callable[[str], None] | None = stdout_line,
) -> FetchReport:
    """Local paths of every artifact: the layer's beside the manifest, S3 ones in /tmp, those
    downloaded unless /tmp holds a verified copy, and checked here either way (``verified``).
    ``client``: default boto3's from the environment (which honours AWS_ENDPOINT_URL)."""
    report = FetchReport()
    remote = _locate_layer_files(manifest, Path(model_dir), report)
    if not remote:
        return report
    folder = directory or cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.part"):  # a previous init that died mid-download
        stale.unlink(missing_ok=True)
    todo = _reuse_cached(remote, folder, report)
    if todo:
        _ensure_room(todo, folder, space)
        client = client or make_client(threads)
    for entry in todo:
        _download_one(client, entry, report, threads, part_bytes)
    if log is not None:
        log(
            json.dumps(
                {"level": "INFO", "message": "model artifacts fetched", **report.log_fields()}
            )
        )
    return report


def _locate_layer_files(
    manifest: Mapping[str, Any], model_dir: Path, report: FetchReport
) -> list[Entry]:
    """The layer's artifacts are where they are; the S3-stored ones (checked) are returned."""
    remote = []
    for entry in manifest.get("artifacts") or []:
        if entry.get("store") == "s3":
            _check_entry(entry)
            remote.append(entry)
        else:
            report.paths[entry["file"]] = model_dir / entry["file"]
    return remote


def _reuse_cached(remote: list[Entry], folder: Path, report: FetchReport) -> list[Entry]:
    """Every S3 artifact gets its path in ``folder``; those without a verified copy are returned."""
    todo = []
    for entry in remote:
        path = folder / local_name(entry)
        report.paths[entry["file"]] = path
        if path.exists() and _cached_copy_ok(path, entry, report):
            report.reused += 1
            report.verified.add(entry["file"])
        else:
            todo.append(entry)
    return todo


def _ensure_room(todo: list[Entry], folder: Path, space: Callable[[Path], int]) -> None:
    """Refuse before the first GET when /tmp cannot take what is to be downloaded."""
    need = sum(int(e["size"]) for e in todo)
    free = space(folder)
    if need > free:
        names = ", ".join(f"{e['file']} {mb(int(e['size']))}" for e in todo)
        raise EphemeralStorageError(
            f"{folder} has {mb(free)} free but the model's S3 artifacts need {mb(need)} "
            f"({names}): raise the function's ephemeral storage (EphemeralStorage; "
            "mlayer publish-model/rollback set it to fit the model)"
        )


def _download_one(
    client: object, entry: Entry, report: FetchReport, threads: int, part_bytes: int | None
) -> None:
    path = report.paths[entry["file"]]
    started = time.perf_counter()
    step = part_bytes or part_size(int(entry["size"]), threads)
    parts, tail_ms = download(client, entry, path, threads=threads, part_bytes=step)
    report.download_ms += (time.perf_counter() - started) * 1000 - tail_ms
    report.verify_ms += tail_ms
    report.parts += parts
    report.downloaded += 1
    report.bytes_downloaded += int(entry["size"])
    report.verified.add(entry["file"])


def _cached_copy_ok(path: Path, entry: Entry, report: FetchReport) -> bool:
    """A copy a previous init left: kept only when its size and sha256 still match."""
    started = time.perf_counter()
    ok = path.stat().st_size == int(entry["size"]) and hash_file(path) == entry["sha256"]
    report.verify_ms += (time.perf_counter() - started) * 1000
    if not ok:
        path.unlink(missing_ok=True)
    return ok


def make_client(threads: int = THREADS) -> Any:  # boto3: untyped
    """The runtime's boto3 S3 client: region, credentials and endpoint from the environment."""
    import boto3
    from botocore.config import Config

    retries = {"mode": "standard", "max_attempts": 4}
    config = Config(
        retries=retries, connect_timeout=5, read_timeout=60, max_pool_connections=threads + 2
    )
    return boto3.client("s3", config=config)
