"""Dead letters of any size: the raw data moves to S3 when the letter does not fit its sink.

The pattern of the SQS extended client: when a dead letter (reason + the record's raw data) is
over what the dead-letter sink takes per record (an SQS message or a Kinesis record: 1 MiB; a
DynamoDB item: 400 KB), the raw data is stored as an S3 object named by its sha256 under
MLAYER_DEAD_LETTER_OVERFLOW (s3://bucket/prefix) and the letter carries
``"data_s3": {"uri", "size", "sha256"}`` instead of ``"data"`` (docs/FORMATS.md). A replay stores
the same bytes under the same key: no duplicate object.

A dead letter that still cannot be written is reported back (the record is then "failed" and
Lambda delivers it again): a dead letter is never dropped.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any

from .delivery import (
    SYSTEMIC_ERRORS,
    BaseSink,
    Delivery,
    Prepared,
    TooBig,
    Warn,
    describe,
    noop,
    to_json_line,
    utf8,
)
from .retries import Retry, is_retryable


class OverflowFailed(Exception):
    """The overflow object could not be stored within the retries the deadline allowed."""


class OverflowStore:
    """Raw data of too-big dead letters as S3 objects keyed by their sha256."""

    def __init__(self, client: Any, bucket: str, prefix: str, retry: Retry) -> None:
        self._client, self._bucket, self._prefix, self._retry = client, bucket, prefix, retry

    @classmethod
    def from_url(
        cls, url: str, client_factory: Callable[[str], Any], retry: Retry
    ) -> OverflowStore:
        from .sink_s3 import parse_s3_url  # only with an overflow configured: a cold start's cost

        scheme, sep, rest = url.partition("://")
        bucket, prefix = parse_s3_url(rest)
        if scheme != "s3" or not sep or not bucket:
            raise ValueError(f"MLAYER_DEAD_LETTER_OVERFLOW={url!r}: expected s3://bucket/prefix")
        return cls(client_factory("s3"), bucket, prefix, retry)

    def put(self, event_id: str, data: object) -> dict[str, Any]:
        """Store the data as the letter's ``data`` would hold it; its pointer for the letter."""
        body = utf8(data) if isinstance(data, str) else utf8(to_json_line(data))
        digest = hashlib.sha256(body).hexdigest()
        key = f"{self._prefix}{digest}"
        extra = {"Metadata": {"event-id": event_id}} if event_id.isascii() else {}
        rounds, error = self._retry.rounds(), "no attempt"
        for _ in rounds:
            try:
                self._client.put_object(
                    Bucket=self._bucket,
                    Key=key,
                    Body=body,
                    ContentType="text/plain; charset=utf-8",
                    **extra,
                )
                return {"uri": f"s3://{self._bucket}/{key}", "size": len(body), "sha256": digest}
            except SYSTEMIC_ERRORS:
                raise
            except Exception as exc:
                if not is_retryable(exc):
                    raise
                error = describe(exc)
        raise OverflowFailed(f"s3://{self._bucket}/{key}: {error}{rounds.note}")


def encodable(doc: dict[str, Any]) -> dict[str, Any]:
    """The letter as is, or with ``data`` as ASCII JSON text when it holds lone surrogates."""
    data = doc.get("data")
    if isinstance(data, str) and data.isascii():
        return doc
    try:
        utf8(to_json_line(data))
    except UnicodeEncodeError:
        doc = {k: v for k, v in doc.items() if k != "data"}
        doc["data_json"] = json.dumps(data)  # ensure_ascii: json.loads gives the data back
    return doc


class DeadLetters:
    """A dead-letter sink with the S3 overflow in front of it; ``write`` as any sink's."""

    def __init__(
        self, sink: BaseSink, overflow: OverflowStore | None = None, warn: Warn = noop
    ) -> None:
        self.sink, self.overflow, self._warn = sink, overflow, warn
        self.name = getattr(sink, "name", type(sink).__name__)
        self.overflowed = 0  # letters whose data went to S3 (this container's total)

    def _spill(self, doc: dict[str, Any], why: str) -> Prepared:
        if self.overflow is None:
            raise TooBig(f"{why}; no MLAYER_DEAD_LETTER_OVERFLOW to keep its data in S3")
        pointer = self.overflow.put(doc["event_id"], doc.get("data", doc.get("data_json")))
        small = {k: v for k, v in doc.items() if k not in ("data", "data_json")}
        small["data_s3"] = pointer
        prepared = self.sink.prepare(small)
        self.overflowed += 1
        return prepared

    def _prepare(self, doc: dict[str, Any]) -> Prepared:
        doc = encodable(doc)
        try:
            return self.sink.prepare(doc)
        except TooBig as exc:
            return self._spill(doc, exc.reason)

    def write(self, docs: Sequence[dict[str, Any]]) -> Delivery:
        out = Delivery()
        items: list[Prepared] = []
        by_id = {doc["event_id"]: doc for doc in docs}
        for doc in docs:
            try:
                items.append(self._prepare(doc))
            except SYSTEMIC_ERRORS:
                raise
            except Exception as exc:
                self._warn(f"dead letter {doc['event_id']} not written: {describe(exc)}")
                out.retry.add(doc["event_id"])
        delivery = self.sink.send(items) if items else Delivery()
        out.retry |= delivery.retry
        if delivery.refused:  # the sink refused the letter itself: try it once as a pointer
            again = []
            for event_id, reason in delivery.refused.items():
                try:
                    again.append(self._spill(encodable(by_id[event_id]), reason))
                except SYSTEMIC_ERRORS:
                    raise
                except Exception as exc:
                    self._warn(f"dead letter {event_id} not written: {reason}; {describe(exc)}")
                    out.retry.add(event_id)
            if again:
                second = self.sink.send(again)
                out.retry |= second.undelivered
        return out
