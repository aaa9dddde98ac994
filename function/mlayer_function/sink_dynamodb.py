"""dynamodb://TABLE: results as items keyed by ``event_id``, 25 per BatchWriteItem call.

Replay semantics: last write wins. A put keyed by ``event_id`` is idempotent, so a batch that
Lambda delivers again rewrites the same rows (never adds one); after a model change the replay's
prediction replaces the stored one and the item's ``model_version`` says which model made it.
First-write-wins would need one conditional PutItem per result (BatchWriteItem takes no
condition): ~10x the client CPU of batch writes (docs/BENCHMARKS.md), so it is not the default.

UnprocessedItems (throttling) are resent with backoff, then left to Lambda's retry. A call that
fails with ValidationException is retried one item at a time (PutItem) so that only the item
DynamoDB refuses is dead-lettered, never its 24 neighbours.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .delivery import (
    ChunkedSink,
    Delivery,
    Prepared,
    TooBig,
    Warn,
    describe,
    noop,
    to_json_line,
    utf8,
)
from .retries import Retry, error_code, is_retryable

# DynamoDB's item size, attribute names included: "400 KB" as documented (AWS takes up to
# ~409,600 bytes; moto 405,000): the documented figure is the one every DynamoDB takes.
ITEM_LIMIT = 400_000

# DynamoDB numbers: 38 significant digits, magnitudes 1E-130 .. 9.9999999999999999999E+125.
_DDB_TINY, _DDB_HUGE = 1e-130, 9.9e125


def to_attribute(value: object) -> dict[str, Any]:
    """A JSON value as a DynamoDB attribute value (numbers travel as decimal strings).

    A probability that underflows DynamoDB's range (e.g. 1e-200) is stored as 0, since
    DynamoDB would refuse the whole item; a non-finite or huge number is stored as its text.
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


def attribute_size(attribute: dict[str, Any]) -> int:
    """Bytes DynamoDB counts for one attribute value (its published sizing rules)."""
    ((kind, value),) = attribute.items()
    if kind == "S":
        return len(utf8(value))
    if kind == "N":
        digits = value.lstrip("-").replace(".", "").lstrip("0").rstrip("0")
        return (len(digits) + 1) // 2 + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(utf8(k)) + attribute_size(v) + 1 for k, v in value.items())
    if kind == "L":
        return 3 + sum(attribute_size(v) + 1 for v in value)
    return len(value)  # pragma: no cover - B: not made by to_attribute


def item_size(item: dict[str, Any]) -> int:
    return sum(len(utf8(name)) + attribute_size(value) for name, value in item.items())


class DynamoDBSink(ChunkedSink):
    """BatchWriteItem, 25 puts per call (DynamoDB's limit; 16 MB per call is never reached)."""

    max_count = 25

    def __init__(self, client: Any, table: str, retry: Retry, warn: Warn = noop) -> None:
        super().__init__(retry, warn)
        self._client, self._table = client, table
        self.name = f"dynamodb://{table}"

    def prepare(self, doc: dict[str, Any]) -> Prepared:
        item = {k: to_attribute(v) for k, v in doc.items()}
        # The JSON text is at least half the item's size, so a short one needs no exact count.
        approx = len(utf8(to_json_line(doc)))
        if approx * 2 + 256 > ITEM_LIMIT:
            size = item_size(item)
            if size > ITEM_LIMIT:
                raise TooBig(
                    f"item of {size} bytes is over DynamoDB's {ITEM_LIMIT}-byte item limit"
                )
        return Prepared(doc["event_id"], item, approx)

    def send(self, items: Sequence[Prepared]) -> Delivery:
        unique: dict[str, Prepared] = {}
        for item in items:  # one call may not put the same key twice; it is the same record
            unique.setdefault(item.event_id, item)
        return super().send(list(unique.values()))

    def _send(self, chunk: list[Prepared]) -> tuple[list[Prepared], dict[str, str]]:
        requests = [{"PutRequest": {"Item": item.wire}} for item in chunk]
        try:
            response = self._client.batch_write_item(RequestItems={self._table: requests})
        except Exception as exc:
            if error_code(exc) != "ValidationException":
                raise
            return self._one_by_one(chunk)
        unprocessed = (response.get("UnprocessedItems") or {}).get(self._table) or []
        if not unprocessed:
            return [], {}
        again = {r["PutRequest"]["Item"]["event_id"]["S"] for r in unprocessed}
        return [item for item in chunk if item.event_id in again], {}

    def _one_by_one(self, chunk: list[Prepared]) -> tuple[list[Prepared], dict[str, str]]:
        """Find the item(s) DynamoDB refuses: each alone, with PutItem."""
        again: list[Prepared] = []
        refused: dict[str, str] = {}
        for item in chunk:
            try:
                self._client.put_item(TableName=self._table, Item=item.wire)
            except Exception as exc:
                if error_code(exc) == "ValidationException":
                    refused[item.event_id] = describe(exc)
                elif is_retryable(exc):
                    again.append(item)
                else:
                    raise
        return again, refused
