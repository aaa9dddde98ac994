"""gateway/kinesis_records.py: records put on the embedded AWS's stream come back as put (in
order, across PutRecords' 500-record calls); refused records are counted (Stubber, since the
embedded AWS refuses none); the batch event has the shape the local poller hands a function."""

from __future__ import annotations

import base64
import datetime as dt
import json

import boto3
from botocore.stub import Stubber

from mlayer.gateway import Gateway
from mlayer.gateway.kinesis_records import (
    ARRIVED,
    MAX_PER_CALL,
    RecordsPut,
    StreamRecord,
    lambda_event,
    put_records,
)
from mlayer.local import sandbox
from mlayer.local.poller import Mapping, kinesis_event

STREAM = "events"


def _read_all(gw: Gateway, stream: str) -> list[tuple[bytes, str]]:
    (shard,) = gw.list_shards(stream)
    iterator = gw.get_shard_iterator(stream, shard["ShardId"], "TRIM_HORIZON")
    out: list[tuple[bytes, str]] = []
    while True:
        page = gw.get_records(iterator, 1000)
        out += [(r["Data"], r["PartitionKey"]) for r in page["Records"]]
        if not page["Records"]:
            return out
        iterator = page["NextShardIterator"]


def test_records_are_put_in_order_across_calls(gw):
    sandbox.ensure_stream(gw, STREAM)
    records = [StreamRecord(f"record {i}".encode(), f"key-{i}") for i in range(MAX_PER_CALL + 7)]
    assert put_records(gw, STREAM, records) == RecordsPut(STREAM, len(records), 0)
    assert _read_all(gw, STREAM) == [(r.data, r.partition_key) for r in records]


def test_no_records_make_no_call():
    gw = Gateway(region="us-east-1", clients={}, account="123456789012")  # no client to call
    assert put_records(gw, STREAM, []) == RecordsPut(STREAM, 0, 0)


def test_refused_records_are_counted_over_every_call():
    kinesis = boto3.client(
        "kinesis", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    gw = Gateway(region="us-east-1", clients={"kinesis": kinesis}, account="123456789012")
    records = [StreamRecord(b"x", str(i)) for i in range(MAX_PER_CALL + 1)]
    ok = {"SequenceNumber": "1", "ShardId": "shardId-000000000000"}
    refused = {"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "slow"}
    with Stubber(kinesis) as stub:
        for chunk, failed in ((records[:MAX_PER_CALL], 2), (records[MAX_PER_CALL:], 1)):
            answers = [refused] * failed + [ok] * (len(chunk) - failed)
            stub.add_response(
                "put_records",
                {"FailedRecordCount": failed, "Records": answers},
                {
                    "StreamName": STREAM,
                    "Records": [{"Data": b"x", "PartitionKey": r.partition_key} for r in chunk],
                },
            )
        assert put_records(gw, STREAM, records) == RecordsPut(STREAM, MAX_PER_CALL + 1, 3)
        stub.assert_no_pending_responses()


def test_the_batch_event_is_the_one_the_local_poller_hands_a_function():
    payloads = [json.dumps({"id": i}).encode() for i in range(3)]
    arn = f"arn:aws:kinesis:eu-west-1:123456789012:stream/{STREAM}"
    role = "arn:aws:iam::123456789012:role/scorer"
    mapping = Mapping(STREAM, arn, "function-arn", role, "eu-west-1")
    as_read = [
        {
            "Data": p,
            "PartitionKey": f"batch-{i}",
            "SequenceNumber": str(1000 + i),
            "ApproximateArrivalTimestamp": dt.datetime.fromtimestamp(ARRIVED, dt.timezone.utc),
        }
        for i, p in enumerate(payloads)
    ]
    event = lambda_event(payloads, arn, role, "eu-west-1")
    assert event == kinesis_event(as_read, "shardId-000000000000", mapping)
    assert [base64.b64decode(r["kinesis"]["data"]) for r in event["Records"]] == payloads
