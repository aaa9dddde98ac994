"""Kinesis records in AWS's two shapes, typed on mlayer's side: put on a stream (PutRecords, a
producer's request: the demo's and the tests'; mlayer itself only reads streams), and a batch as
Lambda hands it to a function (what `invoke --event` takes).

Callers pass ``StreamRecord``s and payloads; AWS's keys stay here.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MAX_PER_CALL = 500  # PutRecords' limit
ARRIVED = 1764460800.0  # a fixed arrival time, so the same payloads give the same event


@dataclass(frozen=True)
class StreamRecord:
    """One record to put: its bytes and the key that picks its shard."""

    data: bytes
    partition_key: str


@dataclass(frozen=True)
class RecordsPut:
    """What PutRecords answered over every call: how many records were sent and refused."""

    stream: str
    sent: int
    failed: int


def put_records(gw: Any, stream: str, records: Sequence[StreamRecord]) -> RecordsPut:
    """Put ``records`` in order, ``MAX_PER_CALL`` per PutRecords call."""
    failed = 0
    for start in range(0, len(records), MAX_PER_CALL):
        chunk = records[start : start + MAX_PER_CALL]
        answer = gw.call(
            "kinesis",
            "put_records",
            f"Writing to stream {stream}",
            StreamName=stream,
            Records=[{"Data": r.data, "PartitionKey": r.partition_key} for r in chunk],
        )
        failed += int(answer.get("FailedRecordCount") or 0)
    return RecordsPut(stream, len(records), failed)


def batch_event(
    records: Sequence[dict[str, Any]], shard_id: str, stream_arn: str, role_arn: str, region: str
) -> dict[str, Any]:
    """The event Lambda gives a function for a batch of GetRecords' ``records`` (its exact
    shape): the one builder, for the local poller and for an event file alike."""
    return {
        "Records": [
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": r["PartitionKey"],
                    "sequenceNumber": r["SequenceNumber"],
                    "data": base64.b64encode(r["Data"]).decode(),
                    "approximateArrivalTimestamp": arrival_epoch(r["ApproximateArrivalTimestamp"]),
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"{shard_id}:{r['SequenceNumber']}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": role_arn,
                "awsRegion": region,
                "eventSourceARN": stream_arn,
            }
            for r in records
        ]
    }


def lambda_event(
    payloads: Sequence[bytes], stream_arn: str, role_arn: str, region: str
) -> dict[str, Any]:
    """The batch of ``payloads`` as Lambda hands it to a function reading ``stream_arn`` with
    the role ``role_arn``: partition keys batch-N, sequence numbers from 1000."""
    records = [
        {
            "PartitionKey": f"batch-{i}",
            "SequenceNumber": str(1000 + i),
            "Data": data,
            "ApproximateArrivalTimestamp": ARRIVED,
        }
        for i, data in enumerate(payloads)
    ]
    return batch_event(records, "shardId-000000000000", stream_arn, role_arn, region)


def arrival_epoch(value: Any) -> float:
    """GetRecords' arrival time (boto3 parses it to a datetime) as Lambda's epoch seconds."""
    if isinstance(value, dt.datetime):
        return value.timestamp()
    return float(value)
