"""Where results and dead letters go: dynamodb://, s3://, kinesis://, sqs://, stdout://.

Every sink takes a list of JSON documents that each carry an ``event_id`` and returns the
event_ids it could not write, after retrying what AWS reports as throttled or unprocessed. Writes
are idempotent on ``event_id`` wherever the service allows it, so a batch that Lambda delivers
again leaves no duplicates:

- DynamoDB: the table's partition key is ``event_id``. Each result is a PutItem conditional on
  ``attribute_not_exists(event_id)``: the first write of an event wins and a replay changes
  nothing (``ConditionalCheckFailedException`` means "already there", a success). So a batch
  that Lambda delivers again after a rollback does not rewrite stored predictions with another
  model version, and a DynamoDB Streams consumer sees one INSERT per record, never a MODIFY to
  act on twice. BatchWriteItem cannot carry a condition (it would be last write wins), and
  TransactWriteItems costs two write units per item and cancels the whole group when one item
  exists; conditional PutItems cost one write unit each, fail or throttle one item at a time,
  and run in a small thread pool (client CPU ~0.5 ms per item, docs/BENCHMARKS.md).
- S3: one JSON-lines object per batch, keyed by shard and first/last sequence number, so a
  retry of the same batch overwrites the same object.
- SQS FIFO: ``MessageDeduplicationId`` is the event_id. Standard queues and Kinesis streams have
  no deduplication: their readers dedupe on the ``event_id`` every document carries.

boto3 is imported only here, and only when an AWS sink is configured (Lambda's runtime ships it).
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

RETRYABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "SlowDown",
        "RequestThrottled",
        "InternalError",
        "InternalServerError",
        "InternalFailure",
        "ServiceUnavailable",
        "RequestTimeout",
        "KMSThrottlingException",
    }
)


class SinkConfigError(ValueError):
    """An output or dead-letter URL that names no sink this function knows."""


def _noop(message: str) -> None:
    pass


@dataclass(frozen=True)
class Retry:
    """Attempts with exponential backoff, short enough to fit inside one invocation."""

    attempts: int = 5
    base_delay: float = 0.05
    max_delay: float = 1.0
    sleep: Callable[[float], None] = time.sleep

    def pause(self, attempt: int) -> None:
        self.sleep(min(self.max_delay, self.base_delay * (2**attempt)))


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def is_retryable(exc: BaseException) -> bool:
    """Throttling, a 5xx or a dropped connection may pass; anything else will not."""
    if error_code(exc) in RETRYABLE_CODES:
        return True
    return type(exc).__name__ in {
        "EndpointConnectionError",
        "ConnectionClosedError",
        "ReadTimeoutError",
        "ConnectTimeoutError",
    }


# Built once: json.dumps with any keyword builds a new encoder per call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def to_json_line(doc: dict) -> str:
    return _ENCODER.encode(doc)


def split_event_id(event_id: str) -> tuple[str, int] | None:
    """``shardId-…:sequence`` -> (shard, sequence as int); None for other ids (SQS)."""
    shard, sep, seq = event_id.rpartition(":")
    if not sep or not shard or not seq.isdigit():
        return None
    return shard, int(seq)


def chunks(items: Sequence, size: int) -> list[list]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


class StdoutSink:
    """One JSON line per document on stdout (CloudWatch Logs on Lambda): for local runs."""

    def __init__(self, stream=None) -> None:
        self._stream = stream

    def write(self, docs: Sequence[dict]) -> set[str]:
        stream = self._stream or sys.stdout
        stream.write("".join(to_json_line(doc) + "\n" for doc in docs))
        stream.flush()
        return set()


class S3Sink:
    """One JSON-lines object per batch; the key comes from the records, so a retry overwrites."""

    def __init__(self, client, bucket: str, prefix: str, retry: Retry, warn=_noop) -> None:
        self._client, self._bucket, self._retry, self._warn = client, bucket, retry, warn
        self._prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"

    def key_for(self, event_ids: Sequence[str]) -> str:
        parsed = [split_event_id(e) for e in event_ids]
        shards = {p[0] for p in parsed if p is not None}
        if parsed and None not in parsed and len(shards) == 1:
            seqs = sorted(p[1] for p in parsed)
            return f"{self._prefix}{shards.pop()}/{seqs[0]}-{seqs[-1]}.jsonl"
        digest = hashlib.sha256("\n".join(sorted(event_ids)).encode()).hexdigest()[:32]
        return f"{self._prefix}batches/{digest}.jsonl"

    def write(self, docs: Sequence[dict]) -> set[str]:
        if not docs:
            return set()
        key = self.key_for([d["event_id"] for d in docs])
        body = "".join(to_json_line(d) + "\n" for d in docs).encode("utf-8")
        for attempt in range(self._retry.attempts):
            try:
                self._client.put_object(
                    Bucket=self._bucket, Key=key, Body=body, ContentType="application/x-ndjson"
                )
                return set()
            except Exception as exc:
                if not is_retryable(exc) or attempt == self._retry.attempts - 1:
                    self._warn(f"s3://{self._bucket}/{key}: {type(exc).__name__}: {exc}")
                    return {d["event_id"] for d in docs}
                self._retry.pause(attempt)
        return {d["event_id"] for d in docs}  # pragma: no cover - attempts >= 1


# DynamoDB numbers: 38 significant digits, magnitudes 1E-130 .. 9.9999999999999999999E+125.
_DDB_TINY, _DDB_HUGE = 1e-130, 9.9e125


def to_attribute(value: object) -> dict:
    """A JSON value as a DynamoDB attribute value (numbers travel as decimal strings).

    A probability that underflows DynamoDB's range (e.g. 1e-200) is stored as 0, since
    DynamoDB would refuse the whole item; a non-finite or huge float is stored as its text.
    """
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int):
        return {"N": str(value)} if abs(value) < 10**38 else {"S": str(value)}
    if isinstance(value, float):
        if not math.isfinite(value) or abs(value) > _DDB_HUGE:
            return {"S": repr(value)}
        return {"N": repr(value) if abs(value) >= _DDB_TINY else "0"}
    if value is None:
        return {"NULL": True}
    if isinstance(value, dict):
        return {"M": {str(k): to_attribute(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"L": [to_attribute(v) for v in value]}
    return {"S": str(value)}


class _PartialRetrySink:
    """Send chunks; resend only the entries the service reports as not taken, with backoff."""

    chunk_size = 25
    name = "sink"

    def __init__(self, retry: Retry, warn=_noop) -> None:
        self._retry, self._warn = retry, warn

    def _send(self, docs: list[dict]) -> tuple[list[dict], list[dict]]:
        """Send one chunk; return (documents worth resending, documents refused for good)."""
        raise NotImplementedError

    def _chunks(self, docs: list[dict]) -> list[list[dict]]:
        return chunks(docs, self.chunk_size)

    def write(self, docs: Sequence[dict]) -> set[str]:
        pending, refused = list(docs), []
        last_error = "throttled"
        for attempt in range(self._retry.attempts):
            if attempt:
                self._retry.pause(attempt - 1)
            left: list[dict] = []
            for chunk in self._chunks(pending):
                try:
                    again, rejected = self._send(chunk)
                except Exception as exc:
                    last_error = f"{type(exc).__name__}: {exc}"
                    if not is_retryable(exc):
                        self._warn(f"{self.name}: {last_error}")
                        refused.extend(chunk)
                        continue
                    again, rejected = chunk, []
                left.extend(again)
                refused.extend(rejected)
            pending = left
            if not pending:
                break
        if pending:
            self._warn(f"{self.name}: {len(pending)} not written after retries ({last_error})")
        return {d["event_id"] for d in pending + refused}


WRITTEN, ALREADY_THERE, AGAIN, REFUSED = "written", "already there", "again", "refused"


class DynamoDBSink:
    """One conditional PutItem per result, in a thread pool (see the module docstring)."""

    workers = 10  # <= the client's max_pool_connections (make_client)
    condition = "attribute_not_exists(event_id)"

    def __init__(self, client, table: str, retry: Retry, warn=_noop) -> None:
        self._client, self._table, self._retry, self._warn = client, table, retry, warn
        self.name = f"dynamodb://{table}"
        self._pool = None  # a ThreadPoolExecutor, made on the first write of many
        self.already_there = 0  # results a replay found written and kept (container's total)

    def _put(self, doc: dict) -> tuple[str, str]:
        try:
            self._client.put_item(
                TableName=self._table,
                Item={k: to_attribute(v) for k, v in doc.items()},
                ConditionExpression=self.condition,
            )
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return ALREADY_THERE, ""
            status = AGAIN if is_retryable(exc) else REFUSED
            return status, f"{error_code(exc) or type(exc).__name__}: {exc}"
        return WRITTEN, ""

    def _put_all(self, docs: list[dict]) -> list[tuple[str, str]]:
        if len(docs) == 1:
            return [self._put(docs[0])]
        if self._pool is None:  # once per container: threads are reused by warm invocations
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="mlayer-ddb")
        return list(self._pool.map(self._put, docs))

    def write(self, docs: Sequence[dict]) -> set[str]:
        unique: dict[str, dict] = {}
        for doc in docs:  # an event_id twice in one call: the first one wins, as in the table
            unique.setdefault(doc["event_id"], doc)
        pending = list(unique.values())
        refused: list[dict] = []
        errors: dict[str, int] = {}
        for attempt in range(self._retry.attempts):
            if attempt:
                self._retry.pause(attempt - 1)
            again = []
            for doc, (status, message) in zip(pending, self._put_all(pending), strict=True):
                if status == ALREADY_THERE:
                    self.already_there += 1
                elif status == AGAIN:
                    again.append(doc)
                elif status == REFUSED:
                    refused.append(doc)
                if message:
                    errors[message] = errors.get(message, 0) + 1
            pending = again
            if not pending:
                break
        if pending or refused:
            worst = sorted(errors.items(), key=lambda kv: -kv[1])[:3]
            summary = "; ".join(f"{n} x {message}" for message, n in worst)
            self._warn(
                f"{self.name}: {len(pending) + len(refused)} of {len(docs)} not written "
                f"({len(refused)} refused, {len(pending)} still throttled after "
                f"{self._retry.attempts} attempts): {summary}"
            )
        return {d["event_id"] for d in pending + refused}


class KinesisSink(_PartialRetrySink):
    """PutRecords, 500 at a time, resending the records reported with an ErrorCode."""

    chunk_size = 500

    def __init__(self, client, stream: str, retry: Retry, warn=_noop) -> None:
        super().__init__(retry, warn)
        self._client = client
        self._target = (
            {"StreamARN": stream} if stream.startswith("arn:") else {"StreamName": stream}
        )
        self.name = f"kinesis://{stream}"

    def _send(self, docs: list[dict]) -> list[dict]:
        records = [
            {"Data": to_json_line(d).encode("utf-8"), "PartitionKey": d["event_id"][-256:]}
            for d in docs
        ]
        response = self._client.put_records(Records=records, **self._target)
        if not response.get("FailedRecordCount"):
            return [], []
        return [d for d, r in zip(docs, response["Records"], strict=True) if r.get("ErrorCode")], []


class SqsSink(_PartialRetrySink):
    """SendMessageBatch, 10 at a time; on a FIFO queue the event_id deduplicates."""

    chunk_size = 10
    max_batch_bytes = 1024 * 1024  # SQS's limit per message and per batch since 2025

    def __init__(self, client, queue: str, retry: Retry, warn=_noop) -> None:
        super().__init__(retry, warn)
        self._client, self._queue = client, queue
        self._queue_url: str | None = None
        self._fifo = queue.endswith(".fifo")
        self.name = f"sqs://{queue}"

    def _url(self) -> str:
        if self._queue_url is None:
            self._queue_url = self._client.get_queue_url(QueueName=self._queue)["QueueUrl"]
        return self._queue_url

    def _chunks(self, docs: list[dict]) -> list[list[dict]]:
        """At most 10 entries and 1 MiB per request."""
        out: list[list[dict]] = []
        current: list[dict] = []
        size = 0
        for doc in docs:
            n = len(to_json_line(doc).encode("utf-8"))
            if current and (len(current) == self.chunk_size or size + n > self.max_batch_bytes):
                out.append(current)
                current, size = [], 0
            current.append(doc)
            size += n
        if current:
            out.append(current)
        return out

    def _entry(self, index: int, doc: dict) -> dict:
        event_id = doc["event_id"]
        entry = {
            "Id": str(index),
            "MessageBody": to_json_line(doc),
            "MessageAttributes": {"event_id": {"DataType": "String", "StringValue": event_id}},
        }
        if self._fifo:
            split = split_event_id(event_id)
            entry["MessageGroupId"] = split[0] if split else "mlayer"
            dedupe = event_id
            if len(dedupe) > 128 or not dedupe.isascii():
                dedupe = hashlib.sha256(event_id.encode()).hexdigest()
            entry["MessageDeduplicationId"] = dedupe
        return entry

    def _send(self, docs: list[dict]) -> list[dict]:
        response = self._client.send_message_batch(
            QueueUrl=self._url(), Entries=[self._entry(i, d) for i, d in enumerate(docs)]
        )
        again, refused = [], []
        for failure in response.get("Failed") or []:
            doc = docs[int(failure["Id"])]
            if failure.get("SenderFault"):
                self._warn(f"{self.name}: {failure.get('Code')}: {failure.get('Message')}")
                refused.append(doc)
            else:
                again.append(doc)
        return again, refused


def make_client(service: str):
    """A boto3 client with short timeouts; the endpoint comes from AWS_ENDPOINT_URL if set."""
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=3,
        read_timeout=15,
        max_pool_connections=DynamoDBSink.workers,
    )
    return boto3.client(service, config=config)


SCHEMES = ("dynamodb", "s3", "kinesis", "sqs", "stdout")


def sink_from_url(url: str, *, client_factory=make_client, retry: Retry | None = None, warn=_noop):
    """The sink a URL names, e.g. ``dynamodb://predictions`` or ``s3://bucket/prefix``."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in SCHEMES:
        raise SinkConfigError(f"unknown sink {url!r}: expected one of {', '.join(SCHEMES)}://")
    retry = retry or Retry()
    if scheme == "stdout":
        return StdoutSink()
    if not rest:
        raise SinkConfigError(f"sink {url!r} names no {scheme} resource")
    if scheme == "s3":
        bucket, _, prefix = rest.partition("/")
        return S3Sink(client_factory("s3"), bucket, prefix, retry, warn)
    if scheme == "dynamodb":
        return DynamoDBSink(client_factory("dynamodb"), rest, retry, warn)
    if scheme == "kinesis":
        return KinesisSink(client_factory("kinesis"), rest, retry, warn)
    return SqsSink(client_factory("sqs"), rest, retry, warn)
