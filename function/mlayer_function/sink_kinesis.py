"""kinesis://STREAM: PutRecords within Kinesis's limits (500 records and 5 MiB per call).

A record over 1 MiB (data and partition key) can never be put: ``prepare`` refuses it, so it
is dead-lettered instead of failing its batch. Records the response marks with an ErrorCode
(throttled, internal failure) are resent alone, with backoff. Streams do not deduplicate:
readers dedupe on the ``event_id`` each record carries (and uses as its partition key).
"""

from __future__ import annotations

from typing import Any

from .delivery import MIB, ChunkedSink, Prepared, TooBig, Warn, noop, to_json_line, utf8
from .retries import Retry

RECORD_LIMIT = MIB  # data + partition key
REQUEST_LIMIT = 5 * MIB


class KinesisSink(ChunkedSink):
    max_count = 500
    max_bytes = REQUEST_LIMIT

    def __init__(self, client: Any, stream: str, retry: Retry, warn: Warn = noop) -> None:
        super().__init__(retry, warn)
        self._client = client
        self._target = (
            {"StreamARN": stream} if stream.startswith("arn:") else {"StreamName": stream}
        )
        self.name = f"kinesis://{stream}"

    def prepare(self, doc: dict[str, Any]) -> Prepared:
        data = utf8(to_json_line(doc))
        key = doc["event_id"][-256:]
        size = len(data) + len(utf8(key))
        if size > RECORD_LIMIT:
            raise TooBig(f"record of {size} bytes is over Kinesis's {RECORD_LIMIT}-byte limit")
        return Prepared(doc["event_id"], {"Data": data, "PartitionKey": key}, size)

    def _send(self, chunk: list[Prepared]) -> tuple[list[Prepared], dict[str, str]]:
        response = self._client.put_records(Records=[item.wire for item in chunk], **self._target)
        if not response.get("FailedRecordCount"):
            return [], {}
        return [
            item for item, r in zip(chunk, response["Records"], strict=True) if r.get("ErrorCode")
        ], {}
