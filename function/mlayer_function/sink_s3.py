"""s3://BUCKET/PREFIX: one JSON-lines object per batch, whatever the size of its results.

The key comes from the records (shard and first/last sequence number, or a digest of the ids),
so a batch that Lambda delivers again overwrites the same object: no duplicates, no limit per
record (an object may hold 5 TB), so nothing is ever refused here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from .delivery import (
    SYSTEMIC_ERRORS,
    BaseSink,
    Delivery,
    Prepared,
    Warn,
    describe,
    noop,
    split_event_id,
    to_json_line,
    utf8,
)
from .retries import Retry, is_retryable


def parse_s3_url(rest: str) -> tuple[str, str]:
    """``bucket/prefix`` -> (bucket, prefix ending in "/" or empty)."""
    bucket, _, prefix = rest.partition("/")
    return bucket, prefix if not prefix or prefix.endswith("/") else prefix + "/"


class S3Sink(BaseSink):
    def __init__(
        self, client: Any, bucket: str, prefix: str, retry: Retry, warn: Warn = noop
    ) -> None:
        self._client, self._bucket, self._retry, self._warn = client, bucket, retry, warn
        self._prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        self.name = f"s3://{bucket}/{self._prefix}"

    def key_for(self, event_ids: Sequence[str]) -> str:
        parsed = [split_event_id(e) for e in event_ids]
        shards = {p[0] for p in parsed if p is not None}
        if parsed and None not in parsed and len(shards) == 1:
            seqs = sorted(p[1] for p in parsed)  # type: ignore[index]  # no None: checked above
            return f"{self._prefix}{shards.pop()}/{seqs[0]}-{seqs[-1]}.jsonl"
        digest = hashlib.sha256("\n".join(sorted(event_ids)).encode()).hexdigest()[:32]
        return f"{self._prefix}batches/{digest}.jsonl"

    def prepare(self, doc: dict[str, Any]) -> Prepared:
        line = utf8(to_json_line(doc) + "\n")
        return Prepared(doc["event_id"], line, len(line))

    def send(self, items: Sequence[Prepared]) -> Delivery:
        if not items:
            return Delivery()
        key = self.key_for([item.event_id for item in items])
        body = b"".join(item.wire for item in items)
        rounds, error = self._retry.rounds(), ""
        for _ in rounds:
            try:
                self._client.put_object(
                    Bucket=self._bucket, Key=key, Body=body, ContentType="application/x-ndjson"
                )
                return Delivery()
            except SYSTEMIC_ERRORS:
                raise
            except Exception as exc:
                error = describe(exc)
                if not is_retryable(exc):
                    break
        self._warn(f"s3://{self._bucket}/{key}: {error}{rounds.note}")
        return Delivery(retry={item.event_id for item in items})
