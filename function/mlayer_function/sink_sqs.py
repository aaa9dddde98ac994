"""sqs://QUEUE: SendMessageBatch within SQS's limits (10 messages and 1 MiB per call).

A message over 1 MiB (body and attributes) can never be sent: ``prepare`` refuses it, so it is
dead-lettered (results) or overflows to S3 (dead letters) instead of failing its batch. On a
FIFO queue ``MessageDeduplicationId`` is the event_id, so a replay within 5 minutes adds no
message; readers of a standard queue dedupe on the ``event_id`` attribute every message carries.
"""

from __future__ import annotations

import hashlib
from typing import Any

from .delivery import MIB, ChunkedSink, Prepared, TooBig, Warn, noop, split_event_id, to_json_line
from .retries import Retry

MESSAGE_LIMIT = MIB  # per message and per SendMessageBatch call (since August 2025)


class SqsSink(ChunkedSink):
    max_count = 10
    max_bytes = MESSAGE_LIMIT

    def __init__(self, client: Any, queue: str, retry: Retry, warn: Warn = noop) -> None:
        super().__init__(retry, warn)
        self._client, self._queue = client, queue
        self._queue_url: str | None = None
        self._fifo = queue.endswith(".fifo")
        self.name = f"sqs://{queue}"

    def _url(self) -> str:
        if self._queue_url is None:
            self._queue_url = self._client.get_queue_url(QueueName=self._queue)["QueueUrl"]
        return self._queue_url

    def prepare(self, doc: dict[str, Any]) -> Prepared:
        event_id = doc["event_id"]
        body = to_json_line(doc)
        entry = {
            "MessageBody": body,
            "MessageAttributes": {"event_id": {"DataType": "String", "StringValue": event_id}},
        }
        # SQS counts the body and each attribute's name, type and value.
        size = len(body.encode("utf-8")) + len("event_id") + len("String") + len(event_id.encode())
        if size > MESSAGE_LIMIT:
            raise TooBig(f"message of {size} bytes is over SQS's {MESSAGE_LIMIT}-byte limit")
        if self._fifo:
            split = split_event_id(event_id)
            entry["MessageGroupId"] = split[0] if split else "mlayer"
            dedupe = event_id
            if len(dedupe) > 128 or not dedupe.isascii():
                dedupe = hashlib.sha256(event_id.encode()).hexdigest()
            entry["MessageDeduplicationId"] = dedupe
        return Prepared(event_id, entry, size)

    def _send(self, chunk: list[Prepared]) -> tuple[list[Prepared], dict[str, str]]:
        entries = [{"Id": str(i), **item.wire} for i, item in enumerate(chunk)]
        response = self._client.send_message_batch(QueueUrl=self._url(), Entries=entries)
        again: list[Prepared] = []
        refused: dict[str, str] = {}
        for failure in response.get("Failed") or []:
            item = chunk[int(failure["Id"])]
            if failure.get("SenderFault"):
                refused[item.event_id] = f"{failure.get('Code')}: {failure.get('Message')}"
            else:
                again.append(item)
        return again, refused
