"""Where Lambda's event-source mapping records what it gave up on: an SQS queue, SNS topic or S3 bucket.

For SQS and SNS the record says where the records are (shard, sequence range), never what they
hold; for an S3 bucket Lambda writes the whole invocation record, the batch's payload included,
as one object under ``aws/lambda/<mapping UUID>/<shard>/YYYY/MM/DD/``.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from typing import Any

from mlayer.errors import LocalRuntimeError

Sender = Callable[
    [dict[str, Any], dict[str, Any]], str
]  # (on-failure record, the batch's event) -> where it went


def s3_failure_key(mapping_uuid: str, shard_id: str, when: dt.datetime) -> str:
    """The key Lambda gives an on-failure object in an S3 destination."""
    stamp = when.astimezone(dt.timezone.utc)
    return (
        f"aws/lambda/{mapping_uuid or 'local'}/{shard_id}/{stamp:%Y/%m/%d}/"
        f"{stamp:%Y-%m-%dT%H.%M.%S}-{uuid.uuid4()}"
    )


def failure_sender(gateway: Any, destination: str, mapping_uuid: str = "") -> Sender:
    """A function that sends an on-failure record to an sqs/sns/s3 destination (URL or ARN)."""
    if destination.startswith("sqs://") or destination.startswith("arn:aws:sqs:"):
        queue = destination.removeprefix("sqs://").rsplit(":", 1)[-1]

        def to_sqs(record: dict[str, Any], payload: dict[str, Any]) -> str:
            gateway.send_message(queue, json.dumps(record))
            return f"sqs://{queue}"

        return to_sqs
    if destination.startswith("sns://") or destination.startswith("arn:aws:sns:"):
        topic = destination.removeprefix("sns://")
        if not topic.startswith("arn:"):
            topic = f"arn:aws:sns:{gateway.region}:{gateway.account_id()}:{topic}"

        def to_sns(record: dict[str, Any], payload: dict[str, Any]) -> str:
            gateway.publish_sns(topic, json.dumps(record))
            return topic

        return to_sns
    if destination.startswith("s3://") or destination.startswith("arn:aws:s3:::"):
        path = destination.removeprefix("s3://").removeprefix("arn:aws:s3:::")
        bucket, _, prefix = path.partition("/")

        def to_s3(record: dict[str, Any], payload: dict[str, Any]) -> str:
            shard = record.get("KinesisBatchInfo", {}).get("shardId", "shard")
            key = s3_failure_key(mapping_uuid, shard, dt.datetime.now(dt.timezone.utc))
            key = f"{prefix.strip('/')}/{key}" if prefix.strip("/") else key
            body = json.dumps({**record, "payload": payload}).encode()
            gateway.put_bytes(bucket, key, body, content_type="application/json")
            return f"s3://{bucket}/{key}"

        return to_s3
    raise LocalRuntimeError(
        f"On-failure destination {destination!r} is neither SQS, SNS nor S3.",
        "Use sqs://QUEUE, sns://TOPIC, s3://BUCKET or their ARNs.",
    )
