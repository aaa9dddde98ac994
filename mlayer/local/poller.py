"""Lambda's Kinesis event-source mapping, played locally: shards -> batches -> the function.

Semantics kept from Lambda: each shard is read in order and a batch is handled completely
(retries, bisection, giving up) before the next one; ``batchItemFailures`` restarts the batch at
the lowest failed sequence number (compared as integers: real ones have 56 digits, moto's are
short); a function error bisects the batch when enabled (splitting does not count as a retry);
records past the maximum retries or record age go to the on-failure destination as Lambda's
on-failure record (shard and sequence ranges, never the data). Checkpoints are injected so a
later poll resumes where this one stopped.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any, Protocol

from mlayer.gateway.kinesis_records import arrival_epoch, batch_event
from mlayer.local.limits import fit_payload
from mlayer.local.poll_results import BatchProgress, PollResult

__all__ = ["BatchProgress", "Mapping", "PollResult", "Poller", "kinesis_event"]


class StreamReader(Protocol):
    def list_shards(self, stream: str) -> list[dict]: ...
    def get_shard_iterator(
        self, stream: str, shard_id: str, iterator_type: str, sequence_number: str | None = None
    ) -> str: ...
    def get_records(self, iterator: str, limit: int) -> dict: ...


@dataclass(frozen=True)
class Mapping:
    """The event-source mapping's settings (from AWS's mapping, or mlayer.toml's [trigger])."""

    stream: str
    stream_arn: str
    function_arn: str
    role_arn: str
    region: str
    batch_size: int = 100
    starting_position: str = "TRIM_HORIZON"  # TRIM_HORIZON | LATEST | AT_TIMESTAMP
    starting_timestamp: dt.datetime | None = None
    max_retries: int = 3  # -1: until the record expires
    max_record_age: int = 3600  # s; -1: forever
    bisect_on_error: bool = False
    report_item_failures: bool = False
    on_failure: str = ""
    uuid: str = ""  # the event-source mapping's, when AWS has one


def kinesis_event(records: list[dict], shard_id: str, m: Mapping) -> dict:
    """The event Lambda gives a function for a batch of Kinesis records (its exact shape)."""
    return batch_event(records, shard_id, m.stream_arn, m.role_arn, m.region)


def first_failed_index(payload: Any, records: list[dict]) -> int | None:
    """Where the retry starts after a partial failure: None = all succeeded, 0 = the whole batch.

    As Lambda: no/empty ``batchItemFailures`` is success; an empty, null or unknown
    itemIdentifier fails the whole batch; otherwise the lowest failed sequence number counts.
    """
    if not isinstance(payload, dict) or not payload.get("batchItemFailures"):
        return None
    failures = payload["batchItemFailures"]
    if not isinstance(failures, list):
        return 0
    known = {int(r["SequenceNumber"]) for r in records}
    lowest: int | None = None
    for item in failures:
        ident = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(ident, str) or not ident.strip().isdigit() or int(ident) not in known:
            return 0
        lowest = int(ident) if lowest is None else min(lowest, int(ident))
    return next(i for i, r in enumerate(records) if int(r["SequenceNumber"]) >= lowest)


def _iso(ts: float) -> str:
    return (
        dt.datetime.fromtimestamp(ts, dt.timezone.utc)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


class Poller:
    """Reads a stream and delivers it to ``invoke`` (an emulated function) as Lambda would."""

    def __init__(
        self,
        reader: StreamReader,
        invoke: Callable[[dict], Any],
        mapping: Mapping,
        *,
        send_failure: Callable[[dict, dict], str] | None = None,
        checkpoints: MutableMapping[str, str] | None = None,
        on_batch: Callable[[BatchProgress], None] | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        timestamp_iterator: Callable[[str, dt.datetime], str] | None = None,
    ) -> None:
        self.reader = reader
        self.invoke = invoke
        self.m = mapping
        self.send_failure = send_failure
        self.checkpoints = checkpoints if checkpoints is not None else {}
        self.on_batch = on_batch
        self.clock = clock
        self.sleep = sleep
        self.timestamp_iterator = timestamp_iterator

    def _iterator(self, shard_id: str) -> str:
        done = self.checkpoints.get(shard_id)
        if done:
            return self.reader.get_shard_iterator(
                self.m.stream, shard_id, "AFTER_SEQUENCE_NUMBER", done
            )
        if (
            self.m.starting_position == "AT_TIMESTAMP"
            and self.m.starting_timestamp
            and self.timestamp_iterator
        ):
            return self.timestamp_iterator(shard_id, self.m.starting_timestamp)
        position = "LATEST" if self.m.starting_position == "LATEST" else "TRIM_HORIZON"
        return self.reader.get_shard_iterator(self.m.stream, shard_id, position)

    def run(
        self, max_batches: int | None = None, until_empty: bool = True, idle_sleep: float = 1.0
    ) -> PollResult:
        """Poll every shard in turn until empty (or ``max_batches``), one batch per shard per round."""
        result = PollResult(stream=self.m.stream)
        shards = sorted(s["ShardId"] for s in self.reader.list_shards(self.m.stream))
        iterators: dict[str, str | None] = {s: self._iterator(s) for s in shards}
        while True:
            read_any = False
            for shard_id in shards:
                if max_batches is not None and len(result.batches) >= max_batches:
                    result.checkpoints = dict(self.checkpoints)
                    return result
                it = iterators[shard_id]
                if it is None:
                    continue
                resp = self.reader.get_records(it, self.m.batch_size)
                iterators[shard_id] = resp.get("NextShardIterator")
                records = resp.get("Records", [])
                if not records:
                    # Real Kinesis returns empty pages while the iterator crosses a gap (expired
                    # or sparse data): only MillisBehindLatest == 0 says the shard is caught up.
                    if (resp.get("MillisBehindLatest") or 0) > 0 and iterators[shard_id]:
                        read_any = True
                    continue
                read_any = True
                for batch in self._fit(records, shard_id):  # Lambda's 6 MB payload limit
                    progress = self._handle(len(result.batches) + 1, shard_id, batch, result)
                    result.batches.append(progress)
                    self.checkpoints[shard_id] = batch[-1]["SequenceNumber"]
                    if self.on_batch:
                        self.on_batch(progress)
            if not read_any:
                if until_empty or all(it is None for it in iterators.values()):
                    result.checkpoints = dict(self.checkpoints)
                    return result
                self.sleep(idle_sleep)

    def _fit(self, records: list[dict], shard_id: str) -> Iterator[list[dict]]:
        """The records read, cut into invocations whose event stays within 6 MB."""

        def size(record: dict) -> int:
            return len(json.dumps(kinesis_event([record], shard_id, self.m)["Records"][0])) + 2

        return fit_payload(records, size, overhead=len(json.dumps({"Records": []})))

    def _handle(
        self, number: int, shard_id: str, records: list[dict], result: PollResult
    ) -> BatchProgress:
        started = self.clock()
        p = BatchProgress(
            number,
            shard_id,
            records[0]["SequenceNumber"],
            records[-1]["SequenceNumber"],
            len(records),
        )
        work: list[tuple[list[dict], int]] = [(records, 0)]  # (records, retries used)
        while work:
            batch, used = work.pop(0)
            if self.m.max_record_age >= 0:
                now = self.clock()
                old = [
                    now - arrival_epoch(r["ApproximateArrivalTimestamp"]) > self.m.max_record_age
                    for r in batch
                ]
                if any(old):
                    expired = [r for r, o in zip(batch, old, strict=True) if o]
                    self._give_up(p, result, shard_id, expired, "RecordAgeExceeded", used, None)
                    batch = [r for r, o in zip(batch, old, strict=True) if not o]
                if not batch:
                    continue
            outcome = self.invoke(kinesis_event(batch, shard_id, self.m))
            p.invocations += 1
            error = getattr(outcome, "error", None)
            if error is None:
                start = (
                    first_failed_index(getattr(outcome, "payload", None), batch)
                    if self.m.report_item_failures
                    else None
                )
                if start is None:
                    p.succeeded += len(batch)
                    continue
                p.succeeded += start
                batch = batch[start:]
            elif self.m.bisect_on_error and len(batch) > 1:
                half = len(batch) // 2
                p.bisections += 1
                work[:0] = [(batch[:half], used), (batch[half:], used)]
                continue
            if self.m.max_retries < 0 or used < self.m.max_retries:
                p.retries += 1
                work.insert(0, (batch, used + 1))
            else:
                self._give_up(
                    p,
                    result,
                    shard_id,
                    batch,
                    "RetryAttemptsExhausted",
                    used + 1,
                    "Unhandled" if error is not None else None,
                )
        p.seconds = self.clock() - started
        return p

    def _give_up(
        self,
        p: BatchProgress,
        result: PollResult,
        shard_id: str,
        batch: list[dict],
        condition: str,
        invoke_count: int,
        function_error: str | None,
    ) -> None:
        p.gave_up += len(batch)
        record = self.failure_record(shard_id, batch, condition, invoke_count, function_error)
        result.failure_records.append(record)
        if self.send_failure and self.m.on_failure:
            payload = kinesis_event(batch, shard_id, self.m)  # S3 destinations keep the batch
            result.failures_sent_to.append(self.send_failure(record, payload))

    def failure_record(
        self,
        shard_id: str,
        batch: list[dict],
        condition: str,
        invoke_count: int,
        function_error: str | None,
    ) -> dict:
        """Lambda's on-failure record for a stream: where the records are, not what they hold."""
        response: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if function_error:
            response["functionError"] = function_error
        return {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": self.m.function_arn,
                "condition": condition,
                "approximateInvokeCount": invoke_count,
            },
            "responseContext": response,
            "version": "1.0",
            "timestamp": _iso(self.clock()),
            "KinesisBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": batch[0]["SequenceNumber"],
                "endSequenceNumber": batch[-1]["SequenceNumber"],
                "approximateArrivalOfFirstRecord": _iso(
                    arrival_epoch(batch[0]["ApproximateArrivalTimestamp"])
                ),
                "approximateArrivalOfLastRecord": _iso(
                    arrival_epoch(batch[-1]["ApproximateArrivalTimestamp"])
                ),
                "batchSize": len(batch),
                "streamArn": self.m.stream_arn,
            },
        }
