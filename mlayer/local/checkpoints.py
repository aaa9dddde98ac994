"""Where the local poller stopped on each shard, kept in the artifact bucket.

Lambda's event-source mapping remembers its position between polls; the local poller keeps it
beside the embedded (or real) AWS state it belongs to, so a reset AWS forgets it too.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

from mlayer.errors import NotFoundError


def checkpoint_key(function: str, stream_arn: str) -> str:
    safe = stream_arn.replace(":", "_").replace("/", "_")
    return f"local/checkpoints/{function}/{safe}.json"


class BucketCheckpoints(MutableMapping[str, Any]):
    """shard id -> last handled sequence number, written through to S3 on every change."""

    def __init__(self, gateway: Any, bucket: str, key: str) -> None:
        self.gateway, self.bucket, self.key = gateway, bucket, key
        try:
            self._data: dict[str, str] = dict(gateway.get_json(bucket, key))
        except NotFoundError:
            self._data = {}

    def __getitem__(self, shard: str) -> str:
        return self._data[shard]

    def __setitem__(self, shard: str, sequence: str) -> None:
        self._data[shard] = sequence
        self.gateway.put_json(self.bucket, self.key, self._data)

    def __delitem__(self, shard: str) -> None:
        del self._data[shard]
        self.gateway.put_json(self.bucket, self.key, self._data)

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)
