"""Kinesis, SQS and SNS: the stream the poller reads, and the queues/topics failures go to."""

from __future__ import annotations

from typing import Any

from mlayer.gateway.base import GatewayBase


class StreamCalls(GatewayBase):
    def describe_stream(self, name: str) -> dict[str, Any]:
        answer: dict[str, Any] = self.call(
            "kinesis", "describe_stream_summary", f"Reading stream {name}", StreamName=name
        )["StreamDescriptionSummary"]
        return answer

    def stream_arn(self, name: str) -> str:
        return str(self.describe_stream(name)["StreamARN"])

    def stream_encryption_key(self, name: str) -> str | None:
        """The KMS key of an SSE-KMS stream (an ARN, a key id or an alias), else None."""
        summary = self.describe_stream(name)
        return summary.get("KeyId") if summary.get("EncryptionType") == "KMS" else None

    def list_shards(self, stream: str) -> list[dict[str, Any]]:
        answer: list[dict[str, Any]] = self.call(
            "kinesis", "list_shards", f"Listing shards of {stream}", StreamName=stream
        )["Shards"]
        return answer

    def get_shard_iterator(
        self,
        stream: str,
        shard_id: str,
        iterator_type: str,
        sequence_number: str | None = None,
        timestamp: Any = None,
    ) -> str:
        params: dict[str, Any] = {
            "StreamName": stream,
            "ShardId": shard_id,
            "ShardIteratorType": iterator_type,
        }
        if sequence_number is not None:
            params["StartingSequenceNumber"] = sequence_number
        if timestamp is not None:
            params["Timestamp"] = timestamp
        answer: str = self.call(
            "kinesis", "get_shard_iterator", f"Reading shard {shard_id} of {stream}", **params
        )["ShardIterator"]
        return answer

    def get_shard_iterator_at(self, stream: str, shard_id: str, timestamp: Any) -> str:
        """An iterator at the first record that arrived at or after ``timestamp`` (AT_TIMESTAMP)."""
        return self.get_shard_iterator(stream, shard_id, "AT_TIMESTAMP", timestamp=timestamp)

    def get_records(self, iterator: str, limit: int) -> dict[str, Any]:
        return self.call(
            "kinesis", "get_records", "Reading records", ShardIterator=iterator, Limit=limit
        )

    # -- SQS / SNS (dead letters, on-failure destinations) ----------------------------------
    def queue_url(self, name: str) -> str:
        answer: str = self.call("sqs", "get_queue_url", f"Finding queue {name}", QueueName=name)[
            "QueueUrl"
        ]
        return answer

    def queue_arn(self, name: str) -> str:
        url = self.queue_url(name)
        attrs = self.call(
            "sqs",
            "get_queue_attributes",
            f"Reading queue {name}",
            QueueUrl=url,
            AttributeNames=["QueueArn"],
        )
        answer: str = attrs["Attributes"]["QueueArn"]
        return answer

    def send_message(self, queue: str, body: str) -> None:
        self.call(
            "sqs",
            "send_message",
            f"Sending to queue {queue}",
            QueueUrl=self.queue_url(queue),
            MessageBody=body,
        )

    def topic_arn(self, name: str) -> str:
        """The ARN of the SNS topic ``name`` in this account and region; NotFoundError if absent."""
        arn = name
        if not name.startswith("arn:"):
            arn = f"arn:aws:sns:{self.region}:{self.account_id()}:{name}"
        self.call("sns", "get_topic_attributes", f"Reading topic {name}", TopicArn=arn)
        return arn

    def publish_sns(self, topic_arn: str, message: str) -> None:
        self.call(
            "sns", "publish", f"Publishing to {topic_arn}", TopicArn=topic_arn, Message=message
        )
