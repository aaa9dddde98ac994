"""One S3 object into one file by parallel ranged GETs, hashed as its parts land.

Every part is streamed straight to its offset in the file (never the whole object in memory),
and the sha256 is computed in file order as parts complete, from the page cache, so it is ready
when the last part lands. The file gets its final name only once size and sha256 match the
manifest. fetch.py decides what to download; this module only downloads. Standard library only
(the client is passed in).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .fetch_errors import (
    MIB,
    ArtifactMismatchError,
    Entry,
    EphemeralStorageError,
    FetchError,
    explain,
    mb,
    s3_uri,
)

PART_BYTES = 8 * MIB  # the smallest part (S3's own advice: 8-16 MB ranged GETs)
MAX_PART_BYTES = 64 * MIB
THREADS = 4
CHUNK = MIB  # the most one thread holds in memory at a time
Span = tuple[int, int]  # first and last byte of a part


def part_size(size: int, threads: int = THREADS, smallest: int = PART_BYTES) -> int:
    """One part per thread when that is 8..64 MiB: fewer requests, every connection busy."""
    even = -(-size // max(1, threads))
    return max(smallest, min(MAX_PART_BYTES, -(-even // MIB) * MIB))


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
    size = int(entry["size"])
    spans = [(start, min(start + part_bytes, size) - 1) for start in range(0, size, part_bytes)]
    part = dest.with_name(f"{dest.name}.{os.getpid()}.part")
    fd = os.open(part, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    done_at = time.perf_counter()
    try:
        _reserve(fd, size, dest.parent)
        actual = _fetch_hashing(client, entry, fd, spans, threads)
        done_at = time.perf_counter()
        _verify_digest(entry, actual)
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


def _fetch_hashing(client: object, entry: Entry, fd: int, spans: list[Span], threads: int) -> str:
    """Every span fetched by the pool, hashed here in file order as each lands: the sha256."""
    size = int(entry["size"])
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
    return digest.hexdigest()


def _verify_digest(entry: Entry, actual: str) -> None:
    expected = str(entry["sha256"])
    if actual != expected:
        raise ArtifactMismatchError(
            f"{s3_uri(entry)}: sha256 {actual[:12]}… differs from the manifest's "
            f"{expected[:12]}… for {entry['file']}; refusing to serve a model that is not "
            "the published one (was the object overwritten?)"
        )


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
