"""Scoring files: an S3 ObjectCreated event (or a continuation) -> the object's predictions in S3.

The object is read as a stream from its next row boundary (a ranged GetObject pinned to the
event's ETag by If-Match), in batches of MLAYER_FILE_CHUNK_RECORDS rows (default 5,000), one
vectorized predict each (file_scoring.py); results go to one output object per input object,
ETag and model (file_state.output_key) by multipart upload (file_output.py), bad rows to the
dead-letter sink with their line numbers. Memory holds one batch and one part buffer.

Before the invocation's deadline (its remaining time minus a reserve: MLAYER_FILE_RESERVE_MS,
or 10 s, or twice the slowest batch so far, whichever is largest) the function parks its
output's tail, saves the state (file_state.py) and invokes itself asynchronously
(InvocationType=Event) with the continuation event; the next invocation goes on from there.

At least once in, exactly once out: an event whose output is complete (HeadObject) does
nothing; an event finding a saved state leaves the file to the continuation that owns it; a
continuation whose offset is not the state's was already run; an event whose ETag is no longer
the object's (a newer object replaced it) scores nothing, its newer ETag has its own event.
Dead letters are sent per batch before the state moves past them: a failed send fails the
invocation, and Lambda's retry of it starts again from the last saved state.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from urllib.parse import quote_plus, unquote_plus

from . import file_state
from .batch import iso_millis
from .decoding import RowRules
from .delivery import describe
from .file_cells import CsvRows, header_of
from .file_output import OutputWriter, with_retries
from .file_rows import RecordReader
from .file_scoring import score_batch
from .file_state import FileJob
from .retries import Retry, error_code, http_status
from .sink_s3 import parse_s3_url

DEFAULT_CHUNK = 5000
MIN_RESERVE_MS = 10_000.0
READ_BYTES = 1 << 20


def new_tally() -> dict:
    """An invocation's EMF metrics (the stream's names): counts, then milliseconds."""
    counts = dict.fromkeys(("records", "predicted", "dead_lettered", "failed"), 0)
    return {**counts, "decode_ms": 0.0, "predict_ms": 0.0, "deliver_ms": 0.0}


class FileSettings:
    def __init__(self, environ: Mapping[str, str]) -> None:
        self.chunk = _positive(environ, "MLAYER_FILE_CHUNK_RECORDS", DEFAULT_CHUNK)
        raw = environ.get("MLAYER_FILE_RESERVE_MS", "")
        self.reserve_ms = float(_positive(environ, "MLAYER_FILE_RESERVE_MS", 1)) if raw else None


def _positive(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "") or str(default)
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{name}={raw!r} must be a positive integer")
    return int(raw)


def is_file_event(event: object) -> bool:
    if not isinstance(event, dict):
        return False
    if file_state.CONTINUATION in event:
        return True
    records = event.get("Records")
    return bool(isinstance(records, list) and records and records[0].get("eventSource") == "aws:s3")


class FileScorer:
    """What the handler's App hands over: its model, row rules, dead letters and output URL."""

    def __init__(self, app, client_factory, environ: Mapping[str, str] = os.environ) -> None:
        self.app, self.settings = app, FileSettings(environ)
        scheme, _, rest = app.settings.output.partition("://")
        if scheme != "s3":
            raise ValueError(
                f"scoring files needs an s3:// output sink, MLAYER_OUTPUT_SINK is "
                f"{app.settings.output!r}"
            )
        self.out_bucket, self.out_prefix = parse_s3_url(rest)
        self.s3 = client_factory("s3")
        self._lambda_factory = lambda: client_factory("lambda")
        self.retry = Retry(deadline=app.deadline)
        self._tally = new_tally()
        # The model, its modules and the clients live as long as the container: out of the
        # cyclic collector's sight, which a chunk's many short-lived dicts would otherwise make
        # scan them over and over (half the time of a numeric chunk, measured: bench_files.py).
        gc.freeze()

    def handle(self, event: dict, context) -> dict:
        self.app.deadline.arm(context)
        self._tally = new_tally()
        if file_state.CONTINUATION in event:
            files = [self._continue(event[file_state.CONTINUATION], context)]
        else:
            files = [self._start(record, context) for record in event["Records"]]
        metrics = getattr(self.app, "_metrics", None)  # the handler's EMF line, as streams have
        if metrics is not None:
            tally = self._tally
            tally["records"] = tally["predicted"] + tally["dead_lettered"]
            metrics("s3", tally, context, files=[f["input"] for f in files if "input" in f])
        return {"files": files}

    # -- entry points -------------------------------------------------------------------------
    def _start(self, record: dict, context) -> dict:
        s3 = record["s3"]
        obj = s3["object"]
        key = unquote_plus(obj["key"])  # S3 events carry keys URL-encoded, "+" for a space
        job = FileJob(
            bucket=s3["bucket"]["name"],
            key=key,
            etag=file_state.bare_etag(obj.get("eTag") or obj.get("etag") or ""),
            size=int(obj.get("size") or 0),
            model_version=self.app.model.version,
            out_bucket=self.out_bucket,
            out_key="",
            state_key="",
        )
        job.out_key = file_state.output_key(self.out_prefix, key, job.etag, job.model_version)
        job.state_key = file_state.state_key(self.out_prefix, job.out_key)
        if self._exists(job.out_bucket, job.out_key):
            return self._said(job, "already scored: the output is complete")
        if self._exists(job.out_bucket, job.state_key):
            return self._said(job, "in progress: a continuation owns this file")
        return self._run(job, context)

    def _continue(self, doc: object, context) -> dict:
        bucket, key, offset = file_state.parse_continuation(doc)
        try:
            got = with_retries(self.retry, self.s3.get_object, Bucket=bucket, Key=key)
        except Exception as exc:
            if error_code(exc) in ("NoSuchKey", "404"):
                return {"status": "done", "detail": f"no state at s3://{bucket}/{key}: finished"}
            raise
        job = FileJob.from_json(got["Body"].read())
        if job.offset != offset:
            return self._said(job, f"a re-delivered continuation: the state is at {job.offset}")
        if job.model_version != self.app.model.version:  # relinked mid-file: start over for it
            self._drop(job, abort=True)
            return self._start(_as_record(job), context)
        job.invocations += 1
        return self._run(job, context)

    # -- the work ---------------------------------------------------------------------------
    def _run(self, job: FileJob, context) -> dict:
        writer = OutputWriter(self.s3, job, self.retry)
        writer.resume()
        params = {"Bucket": job.bucket, "Key": job.key, "IfMatch": job.etag}
        if job.offset:
            params["Range"] = f"bytes={job.offset}-"
        try:
            body = with_retries(self.retry, self.s3.get_object, **params)["Body"]
        except Exception as exc:
            if http_status(exc) == 412 or error_code(exc) in ("PreconditionFailed", "NoSuchKey"):
                self._drop(job, abort=True)
                return self._said(job, f"not scored: the object changed ({error_code(exc)})")
            if error_code(exc) == "InvalidRange":  # nothing after the offset: only blank lines
                body = None
            else:
                raise
        started_with = job.upload_id
        try:
            stopped = self._score(job, body, writer, context) if body is not None else False
        except BaseException:
            if job.upload_id and not started_with:  # no saved state names it: nothing will
                with contextlib.suppress(Exception):  # the first failure is the one to report
                    writer.abort()
            raise
        finally:
            if body is not None:
                body.close()
        if stopped:
            self._hand_off(job, writer, context)
            said = self._said(job, "continued in a new invocation", status="continued")
            return {**said, "continuation": job.continuation_event()}
        writer.finish()
        self._drop(job, abort=False)
        return self._said(job, "scored", status="scored")

    def _score(self, job: FileJob, body, writer: OutputWriter, context) -> bool:
        """Batches until the end (False) or until the deadline is near (True)."""
        csv = job.key.lower().endswith(".csv")
        reader = RecordReader(
            body.iter_chunks(READ_BYTES), offset=job.offset, line=job.line, quoted=csv
        )
        model, rules = self.app.model, self.app.rules
        csv_rows = CsvRows(job.header, rules.input_kind, rules.table) if job.header else None
        slowest, tally = 0.0, self._tally
        read_at = time.perf_counter()
        for batch in reader.batches(self.settings.chunk):
            started = time.perf_counter()
            tally["decode_ms"] += (started - read_at) * 1000  # the stream read and split
            records = batch.records
            if csv and csv_rows is None:
                csv_rows, records = self._header(job, records, rules)
                if csv_rows is None:  # no row of this file can be read: said in one letter
                    job.offset, job.line = batch.end_offset, batch.next_line
                    return False
            scored = score_batch(records, model=model, rules=rules, csv_rows=csv_rows)
            scored_at = time.perf_counter()
            self._letters(job, scored.letters)
            writer.add(scored.output)
            job.offset, job.line = batch.end_offset, batch.next_line
            job.predicted += scored.predicted
            read_at = time.perf_counter()
            tally["predict_ms"] += (scored_at - started) * 1000  # rows checked, predicted, encoded
            tally["deliver_ms"] += (read_at - scored_at) * 1000  # dead letters and output parts
            tally["predicted"] += scored.predicted
            slowest = max(slowest, read_at - started)
            if job.offset < job.size and self._near_deadline(context, slowest):
                return True
        return False

    def _header(self, job: FileJob, records: list, rules: RowRules):
        line, raw = records[0]
        try:
            job.header = header_of(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            reason = f"bad CSV header ({describe(exc)}): no row of this file can be scored"
            self._letters(job, [(line, raw, reason)])
            return None, records
        return CsvRows(job.header, rules.input_kind, rules.table), records[1:]

    def _near_deadline(self, context, slowest_s: float) -> bool:
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        if not callable(remaining):
            return False
        reserve = self.settings.reserve_ms
        if reserve is None:
            reserve = max(MIN_RESERVE_MS, 2000.0 * slowest_s)
        return float(remaining()) < reserve

    def _letters(self, job: FileJob, letters: list) -> None:
        if not letters:
            return
        stamp = iso_millis(datetime.now(timezone.utc))
        docs = [
            {
                "event_id": f"s3://{job.bucket}/{job.key}@{job.etag}:{line}",
                "source": f"s3://{job.bucket}/{job.key}",
                "etag": job.etag,
                "line": line,
                "reason": reason,
                "data": raw.decode("utf-8", "backslashreplace"),
                "model_version": job.model_version,
                "failed_at": stamp,
            }
            for line, raw, reason in letters
        ]
        delivery = self.app.dead_letter.write(docs)
        if delivery.undelivered:
            raise RuntimeError(
                f"{len(delivery.undelivered)} dead letters of s3://{job.bucket}/{job.key} not "
                "written: the invocation fails so the rows are scored again"
            )
        job.dead_lettered += len(docs)
        self._tally["dead_lettered"] += len(docs)

    # -- state ------------------------------------------------------------------------------
    def _hand_off(self, job: FileJob, writer: OutputWriter, context) -> None:
        parked_before = job.pending
        writer.park()
        with_retries(
            self.retry,
            self.s3.put_object,
            Bucket=job.out_bucket,
            Key=job.state_key,
            Body=job.to_json(),
            ContentType="application/json",
        )
        target = getattr(context, "invoked_function_arn", None) or os.environ.get(
            "AWS_LAMBDA_FUNCTION_NAME", ""
        )
        with_retries(
            self.retry,
            self._lambda_factory().invoke,
            FunctionName=target,
            InvocationType="Event",
            Payload=json.dumps(job.continuation_event()).encode("utf-8"),
        )
        if parked_before and parked_before != job.pending:  # the state names the new one now
            with_retries(
                self.retry, self.s3.delete_object, Bucket=job.out_bucket, Key=parked_before
            )

    def _drop(self, job: FileJob, *, abort: bool) -> None:
        """The state and its parked tail go; ``abort``: the unfinished upload too."""
        if abort:
            OutputWriter(self.s3, job, self.retry).abort()
        for key in (job.pending, job.state_key):
            if key:
                with_retries(self.retry, self.s3.delete_object, Bucket=job.out_bucket, Key=key)

    def _exists(self, bucket: str, key: str) -> bool:
        try:
            with_retries(self.retry, self.s3.head_object, Bucket=bucket, Key=key)
        except Exception as exc:
            if http_status(exc) == 404 or error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def _said(self, job: FileJob, detail: str, status: str = "skipped") -> dict:
        out = {
            "status": status,
            "detail": detail,
            "input": f"s3://{job.bucket}/{job.key}",
            "etag": job.etag,
            "output": f"s3://{job.out_bucket}/{job.out_key}",
            "model_version": job.model_version,
        }
        if status != "skipped":
            out.update(
                predicted=job.predicted,
                dead_lettered=job.dead_lettered,
                offset=job.offset,
                invocations=job.invocations,
            )
        return out


def _as_record(job: FileJob) -> dict:
    """A continuation's object as an S3 event record names it (to start it over)."""
    return {
        "s3": {
            "bucket": {"name": job.bucket},
            "object": {"key": quote_plus(job.key, safe="/"), "eTag": job.etag, "size": job.size},
        }
    }
