"""A scored file's JSON lines into one S3 object: multipart parts as the output grows.

S3 takes multipart parts of 5 MiB or more (except the last), so results are buffered up to
``part_bytes`` (8 MiB) and then uploaded as the next part; memory holds one buffer whatever
the file's size. The object appears only when ``finish`` completes the upload (or, for an
output smaller than one part, puts it whole): a reader never sees half an output. A part
number is fixed by the state (parts so far + 1), so a continuation that runs twice uploads the
same bytes under the same number.
"""

from __future__ import annotations

from collections.abc import Callable

from .delivery import SYSTEMIC_ERRORS
from .file_state import FileJob, pending_key
from .retries import Retry, is_retryable

PART_BYTES = 8 * 1024 * 1024
CONTENT_TYPE = "application/x-ndjson"


def with_retries(retry: Retry, call: Callable[..., dict], **params) -> dict:
    """One S3 call, retried while it may pass and the deadline allows."""
    error: Exception | None = None
    for _ in retry.rounds():
        try:
            return call(**params)
        except SYSTEMIC_ERRORS:
            raise
        except Exception as exc:
            error = exc
            if not is_retryable(exc):
                break
    assert error is not None
    raise error


class OutputWriter:
    def __init__(self, client, job: FileJob, retry: Retry, part_bytes: int = PART_BYTES) -> None:
        self._s3, self._job, self._retry, self._part_bytes = client, job, retry, part_bytes
        self._buffer = bytearray()

    def resume(self) -> None:
        """Take back the buffered tail a previous invocation parked."""
        job = self._job
        if not job.pending:
            return
        got = with_retries(self._retry, self._s3.get_object, Bucket=job.out_bucket, Key=job.pending)
        body = got["Body"].read()
        if len(body) != job.pending_bytes:
            raise ValueError(
                f"s3://{job.out_bucket}/{job.pending} holds {len(body)} bytes, "
                f"the state says {job.pending_bytes}"
            )
        self._buffer[:] = body

    def add(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) >= self._part_bytes:
            self._upload_part()

    def _upload_part(self) -> None:
        job = self._job
        if not job.upload_id:
            created = with_retries(
                self._retry,
                self._s3.create_multipart_upload,
                Bucket=job.out_bucket,
                Key=job.out_key,
                ContentType=CONTENT_TYPE,
            )
            job.upload_id = created["UploadId"]
        number = len(job.parts) + 1
        sent = with_retries(
            self._retry,
            self._s3.upload_part,
            Bucket=job.out_bucket,
            Key=job.out_key,
            UploadId=job.upload_id,
            PartNumber=number,
            Body=bytes(self._buffer),
        )
        job.parts.append({"PartNumber": number, "ETag": sent["ETag"]})
        self._buffer.clear()

    def park(self) -> None:
        """Before handing off: the buffered tail into its own object, named by the offset."""
        job = self._job
        if not self._buffer:
            job.pending, job.pending_bytes = "", 0
            return
        key = pending_key(job.state_key, job.offset)
        with_retries(
            self._retry,
            self._s3.put_object,
            Bucket=job.out_bucket,
            Key=key,
            Body=bytes(self._buffer),
        )
        job.pending, job.pending_bytes = key, len(self._buffer)

    def finish(self) -> None:
        """The output object, whole: put at once, or the multipart upload completed."""
        job = self._job
        if not job.upload_id:
            with_retries(
                self._retry,
                self._s3.put_object,
                Bucket=job.out_bucket,
                Key=job.out_key,
                Body=bytes(self._buffer),
                ContentType=CONTENT_TYPE,
            )
            return
        if self._buffer:
            self._upload_part()
        with_retries(
            self._retry,
            self._s3.complete_multipart_upload,
            Bucket=job.out_bucket,
            Key=job.out_key,
            UploadId=job.upload_id,
            MultipartUpload={"Parts": job.parts},
        )

    def abort(self) -> None:
        job = self._job
        if job.upload_id:
            self._s3.abort_multipart_upload(
                Bucket=job.out_bucket, Key=job.out_key, UploadId=job.upload_id
            )
