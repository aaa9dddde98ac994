"""Bring a model's S3-stored artifacts into /tmp, once per container, verified before any unpickling.

A model too big for Lambda's 250 MB layer budget keeps only its manifest in the model layer;
each artifact the manifest marks ``"store": "s3"`` lives at ``s3://<bucket>/<s3_key>``
(docs/FORMATS.md). At cold start ``materialize`` downloads each one with parallel ranged GETs:
every part is streamed straight to its offset in one file (never the whole object in memory),
and the sha256 is computed in file order as parts complete, from the page cache, so it is
ready when the last part lands. Size and sha256 must match the manifest before the file gets
its final name; a warm container or a re-init whose /tmp already holds that name re-hashes it
and skips the download. Failures name what to fix: the object that is missing, the permission
the role lacks, the sizes that do not fit in /tmp.

Standard library only at import; boto3 (the runtime's own) is imported only to download.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Entry = Mapping[str, Any]  # a manifest's artifact entry
MIB = 1024 * 1024
PART_BYTES = 8 * MIB  # the smallest part (S3's own advice: 8-16 MB ranged GETs)
MAX_PART_BYTES = 64 * MIB
THREADS = 4
CHUNK = MIB  # the most one thread holds in memory at a time
CACHE_DIRNAME = "mlayer-models"
_MISSING = ("NoSuchKey", "NoSuchBucket", "404", "NotFound")
_DENIED = ("AccessDenied", "403", "Forbidden", "AllAccessDisabled", "InvalidAccessKeyId")


class FetchError(Exception):
    """An S3-stored artifact could not be brought to /tmp (the init fails, nothing is served)."""


class ArtifactMissingError(FetchError):
    """The object a model version needs is not in S3 (deleted, or another bucket/region)."""


class ArtifactAccessError(FetchError):
    """The execution role may not read the object (s3:GetObject)."""


class ArtifactMismatchError(FetchError):
    """The object differs from the manifest (size or sha256): refused before unpickling."""


class EphemeralStorageError(FetchError):
    """/tmp has less free space than the artifacts need."""


def mb(n: int) -> str:
    """Lambda's MB (MiB), as its EphemeralStorage setting counts them."""
    return f"{n / MIB:.1f} MB"


def s3_uri(entry: Entry) -> str:
    return f"s3://{entry.get('bucket')}/{entry.get('s3_key')}"


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


def part_size(size: int, threads: int = THREADS, smallest: int = PART_BYTES) -> int:
    """One part per thread when that is 8..64 MiB: fewer requests, every connection busy."""
    even = -(-size // max(1, threads))
    return max(smallest, min(MAX_PART_BYTES, -(-even // MIB) * MIB))


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
    model_dir = Path(model_dir)
    report = FetchReport()
    remote = []
    for entry in manifest.get("artifacts") or []:
        if entry.get("store") == "s3":
            _check_entry(entry)
            remote.append(entry)
        else:
            report.paths[entry["file"]] = model_dir / entry["file"]
    if not remote:
        return report
    folder = directory or cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.part"):  # a previous init that died mid-download
        stale.unlink(missing_ok=True)
    todo = []
    for entry in remote:
        path = folder / local_name(entry)
        report.paths[entry["file"]] = path
        if path.exists() and _cached_copy_ok(path, entry, report):
            report.reused += 1
            report.verified.add(entry["file"])
        else:
            todo.append(entry)
    need = sum(int(e["size"]) for e in todo)
    if todo:
        free = space(folder)
        if need > free:
            names = ", ".join(f"{e['file']} {mb(int(e['size']))}" for e in todo)
            raise EphemeralStorageError(
                f"{folder} has {mb(free)} free but the model's S3 artifacts need {mb(need)} "
                f"({names}): raise the function's ephemeral storage (EphemeralStorage; "
                "mlayer publish-model/rollback set it to fit the model)"
            )
        client = client or make_client(threads)
    for entry in todo:
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
    if log is not None:
        log(
            json.dumps(
                {"level": "INFO", "message": "model artifacts fetched", **report.log_fields()}
            )
        )
    return report


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


def _error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error") or {}
        code = error.get("Code") or (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        return str(code) if code is not None else None
    return None


def explain(exc: BaseException, entry: Entry) -> FetchError:
    """An S3 failure as the init error a person can act on."""
    code = _error_code(exc)
    uri = s3_uri(entry)
    what = f"artifact {entry.get('file')} (sha256 {str(entry.get('sha256'))[:12]}…)"
    if code in _MISSING:
        return ArtifactMissingError(
            f"{uri} does not exist ({code}): the model's {what} is not in S3. It may have been "
            "deleted (mlayer never deletes it); publish the model again, or roll back to a "
            "version whose objects exist (mlayer history lists them)"
        )
    if code in _DENIED:
        return ArtifactAccessError(
            f"the execution role may not read {uri} ({code}): it needs s3:GetObject on "
            f"arn:aws:s3:::{entry.get('bucket')}/{entry.get('s3_key')} (mlayer status shows it)"
        )
    return FetchError(f"cannot download {uri}: {type(exc).__name__}: {exc}")


def download(
    client: object,
    entry: Entry,
    dest: Path,
    *,
    threads: int = THREADS,
    part_bytes: int = PART_BYTES,
) -> tuple[int, float]:
    """Download one artifact to ``dest`` and verify it; returns (parts, ms spent after the last part).

    Parts go to their offsets in ``dest``.part from a thread pool; this thread hashes the
    completed prefix as it grows. The file is renamed to ``dest`` only once verified.
    """
    size, expected = int(entry["size"]), str(entry["sha256"])
    spans = [(start, min(start + part_bytes, size) - 1) for start in range(0, size, part_bytes)]
    part = dest.with_name(f"{dest.name}.{os.getpid()}.part")
    fd = os.open(part, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    done_at = time.perf_counter()
    try:
        _reserve(fd, size, dest.parent)
        digest = hashlib.sha256()
        finished: set[int] = set()
        changed = threading.Condition()
        failure: list[BaseException] = []
        stop = threading.Event()

        def fetch_part(index: int) -> None:
            try:
                _get_part(client, entry, fd, *spans[index], size, stop)
            except BaseException as exc:
                failure.append(exc)
                stop.set()
            with changed:
                finished.add(index)
                changed.notify()

        pool = ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="fetch")
        try:
            for index in range(len(spans)):
                pool.submit(fetch_part, index)
            for index in range(len(spans)):
                with changed:
                    changed.wait_for(lambda i=index: i in finished or stop.is_set())  # type: ignore[misc]  # a default-arg lambda: untypable
                if stop.is_set():
                    break
                _hash_span(fd, *spans[index], digest)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        if failure:
            raise failure[0]
        done_at = time.perf_counter()
        actual = digest.hexdigest()
        if actual != expected:
            raise ArtifactMismatchError(
                f"{s3_uri(entry)}: sha256 {actual[:12]}… differs from the manifest's "
                f"{expected[:12]}… for {entry['file']}; refusing to serve a model that is not "
                "the published one (was the object overwritten?)"
            )
        os.replace(part, dest)
    except FetchError:
        part.unlink(missing_ok=True)
        raise
    except Exception as exc:
        part.unlink(missing_ok=True)
        raise explain(exc, entry) from exc
    finally:
        os.close(fd)
    return len(spans), (time.perf_counter() - done_at) * 1000


def _reserve(fd: int, size: int, folder: Path) -> None:
    """Claim the space up front, so a full /tmp fails here and not after minutes of download."""
    try:
        if size:
            os.posix_fallocate(fd, 0, size)
    except OSError as exc:
        if exc.errno in (28,):  # ENOSPC
            raise EphemeralStorageError(
                f"{folder} has no room for {mb(size)} ({exc.strerror}): raise the function's "
                "ephemeral storage (EphemeralStorage)"
            ) from None
        os.ftruncate(fd, size)  # a file system without fallocate: sparse, then written
    except AttributeError:  # no posix_fallocate on this platform
        os.ftruncate(fd, size)


def _get_part(
    client: Any, entry: Entry, fd: int, start: int, end: int, size: int, stop: threading.Event
) -> None:
    """One ranged GET streamed to its offset, a chunk at a time; retried on a broken stream."""
    for attempt in range(3):
        if stop.is_set():
            return
        response = client.get_object(
            Bucket=entry["bucket"], Key=entry["s3_key"], Range=f"bytes={start}-{end}"
        )
        total = _total_from_range(response.get("ContentRange"), response.get("ContentLength"))
        if total is not None and total != size:
            response["Body"].close()
            raise ArtifactMismatchError(
                f"{s3_uri(entry)} is {total} bytes; the manifest says {size} for "
                f"{entry['file']}: refusing to serve a model that is not the published one"
            )
        offset = start
        try:
            for chunk in response["Body"].iter_chunks(CHUNK):
                if stop.is_set():
                    return
                os.pwrite(fd, chunk, offset)
                offset += len(chunk)
        except Exception as exc:  # a stream cut mid-way (urllib3/botocore read errors)
            if attempt == 2:
                raise FetchError(f"reading {s3_uri(entry)} failed: {exc}") from exc
            start = offset  # go on from where the stream stopped
            continue
        if offset == end + 1:
            return
        start = offset
    raise FetchError(f"{s3_uri(entry)} ended early at byte {start} of {size}")


def _total_from_range(content_range: str | None, length: object) -> int | None:
    """The object's size from ``bytes a-b/total``; None when S3 sent the whole object."""
    if content_range and "/" in content_range:
        tail = content_range.rsplit("/", 1)[1]
        return int(tail) if tail.isdigit() else None
    return None


def _hash_span(fd: int, start: int, end: int, digest: hashlib._Hash) -> None:
    """Feed bytes start..end of the file (just written: in the page cache) to the digest."""
    offset = start
    while offset <= end:
        chunk = os.pread(fd, min(CHUNK, end + 1 - offset), offset)
        if not chunk:
            break
        digest.update(chunk)
        offset += len(chunk)
