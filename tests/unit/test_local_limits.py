"""Lambda's and AWS's size limits in the emulation, and where given-up records are recorded."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlayer.errors import AwsError, LocalRuntimeError, UsageError
from mlayer.local import limits
from mlayer.local.destinations import failure_sender, s3_failure_key
from mlayer.local.emulator import Emulator, FunctionSpec
from mlayer.local.poller import Mapping, Poller, kinesis_event

NOW = 1_764_460_800.0
MIB = 1024 * 1024


def record(seq: int, size: int) -> dict:
    return {
        "SequenceNumber": str(seq),
        "PartitionKey": "k",
        "Data": json.dumps({"id": seq, "text": "x" * size}).encode(),
        "ApproximateArrivalTimestamp": dt.datetime.fromtimestamp(NOW, dt.timezone.utc),
    }


MAPPING = Mapping(
    "s",
    "arn:aws:kinesis:us-east-1:123456789012:stream/s",
    "arn:aws:lambda:us-east-1:123456789012:function:f",
    "",
    "us-east-1",
    max_record_age=-1,
    on_failure="s3://failures",
    uuid="esm-uuid",
)


class OneShard:
    def __init__(self, records):
        self.records = records

    def list_shards(self, stream):
        return [{"ShardId": "shardId-000000000000"}]

    def get_shard_iterator(self, stream, shard_id, iterator_type, sequence_number=None):
        return "0"

    def get_records(self, iterator, limit):
        start = int(iterator)
        page = self.records[start : start + limit]
        return {"Records": page, "NextShardIterator": str(start + len(page)) if page else None}


class Ok:
    error = None
    payload = None


def test_the_poller_cuts_batches_to_lambdas_6_mb_payload_keeping_order():
    sizes = []

    def invoke(event):
        sizes.append(
            (
                len(json.dumps(event).encode()),
                [r["kinesis"]["sequenceNumber"] for r in event["Records"]],
            )
        )
        return Ok()

    records = [record(i, MIB - 200) for i in range(1, 11)]  # ten legal ~1 MiB records
    result = Poller(OneShard(records), invoke, MAPPING, clock=lambda: NOW).run()
    assert result.records == 10 and result.succeeded == 10
    assert all(size <= limits.SYNC_PAYLOAD_MAX for size, _ in sizes)
    assert [s for _, seqs in sizes for s in seqs] == [str(i) for i in range(1, 11)]
    assert len(sizes) > 2  # 100 records asked, fewer per invocation, as Lambda's mapping does


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=3000), min_size=1, max_size=40))
def test_fit_payload_keeps_every_record_once_in_order_and_within_the_limit(sizes):
    items = [{"n": i, "size": s} for i, s in enumerate(sizes)]
    chunks = list(limits.fit_payload(items, lambda r: r["size"], overhead=10, limit=5000))
    assert [r for chunk in chunks for r in chunk] == items
    for chunk in chunks:
        assert len(chunk) == 1 or 10 + sum(r["size"] for r in chunk) <= 5000


def test_an_invocation_over_6_mb_is_refused_as_lambda_does_before_any_container(tmp_path):
    spec = FunctionSpec("f", "h.handler", "python3.11", tmp_path, tmp_path)
    with Emulator(spec, "/no/such/python", tmp_path) as em:
        with pytest.raises(AwsError) as err:
            em.invoke(b"x" * (limits.SYNC_PAYLOAD_MAX + 1))
        assert em.cold_starts == 0
    assert err.value.code == "RequestEntityTooLargeException"
    assert "Request must be smaller than 6291456 bytes for the InvokeFunction operation" in (
        err.value.message
    )
    # exactly 6 MB passes the check (and then meets the missing interpreter)
    with Emulator(spec, "/no/such/python", tmp_path) as em, pytest.raises(LocalRuntimeError):
        em.invoke(b"x" * limits.SYNC_PAYLOAD_MAX)


def kinesis_record_event(data: bytes) -> dict:
    return {
        "Records": [
            {"eventSource": "aws:kinesis", "kinesis": {"data": base64.b64encode(data).decode()}}
        ]
    }


def test_an_event_with_a_record_its_source_could_not_hold_is_refused():
    limits.check_event(kinesis_record_event(b"x" * MIB))  # the largest legal record
    with pytest.raises(UsageError, match="Kinesis refuses a record over 1048576 bytes"):
        limits.check_event(kinesis_record_event(b"x" * (MIB + 1)))
    sqs = {"Records": [{"eventSource": "aws:sqs", "body": "y" * (MIB + 1)}]}
    with pytest.raises(UsageError, match="Message must be shorter than 1048576 bytes"):
        limits.check_event(sqs)
    limits.check_event({"instances": [[1, 2]]})  # not a stream event: nothing to check


def test_the_partition_key_counts_against_a_kinesis_record_s_mib():
    """Kinesis counts data plus partition key (moto's PutRecords refuses 1 MiB of data + "k")."""
    event = kinesis_record_event(b"x" * (MIB - 1))
    event["Records"][0]["kinesis"]["partitionKey"] = "k"
    limits.check_event(event)  # exactly 1 MiB in all
    event["Records"][0]["kinesis"]["partitionKey"] = "kk"
    with pytest.raises(UsageError, match="1048577 bytes of Kinesis data and partition key"):
        limits.check_event(event)


class FakeGateway:
    region = "us-east-1"

    def __init__(self):
        self.sent = []

    def account_id(self):
        return "123456789012"

    def send_message(self, queue, body):
        self.sent.append(("sqs", queue, json.loads(body)))

    def publish_sns(self, topic, body):
        self.sent.append(("sns", topic, json.loads(body)))

    def put_bytes(self, bucket, key, body, content_type=""):
        self.sent.append(("s3", f"{bucket}/{key}", json.loads(body)))


def test_the_on_failure_destination_is_sqs_sns_or_s3_by_url_or_arn():
    gw = FakeGateway()
    info = {"KinesisBatchInfo": {"shardId": "shardId-000000000000"}, "version": "1.0"}
    event = kinesis_event([record(1, 3)], "shardId-000000000000", MAPPING)
    for destination in (
        "sqs://dlq",
        "arn:aws:sqs:us-east-1:123456789012:dlq",
        "sns://alerts",
        "arn:aws:sns:us-east-1:123456789012:alerts",
        "s3://failures",
        "arn:aws:s3:::failures",
    ):
        failure_sender(gw, destination, "esm-uuid")(info, event)
    kinds = [(kind, target.split("/")[0]) for kind, target, _ in gw.sent]
    assert kinds == [
        ("sqs", "dlq"),
        ("sqs", "dlq"),
        ("sns", "arn:aws:sns:us-east-1:123456789012:alerts"),
        ("sns", "arn:aws:sns:us-east-1:123456789012:alerts"),
        ("s3", "failures"),
        ("s3", "failures"),
    ]
    # SQS/SNS get where the records are; S3 also the batch itself, as Lambda writes it
    assert "payload" not in gw.sent[0][2]
    assert gw.sent[4][2]["payload"] == event and gw.sent[4][2]["version"] == "1.0"
    assert gw.sent[4][1].startswith("failures/aws/lambda/esm-uuid/shardId-000000000000/")
    with pytest.raises(LocalRuntimeError, match="neither SQS, SNS nor S3"):
        failure_sender(gw, "kinesis://elsewhere")


def test_the_s3_key_is_lambdas():
    when = dt.datetime(2026, 11, 30, 6, 5, 4, tzinfo=dt.timezone.utc)
    key = s3_failure_key("uuid-1", "shardId-000000000001", when)
    assert key.startswith("aws/lambda/uuid-1/shardId-000000000001/2026/11/30/2026-11-30T06.05.04-")
    assert Path(key).name.count("-") >= 5  # a random UUID closes it


def test_a_poll_that_gave_up_is_not_ok_and_says_where_the_records_went():
    sent = []

    class Fails:
        error = {"errorType": "X", "errorMessage": "boom"}
        payload = error

    def send(rec, payload):
        sent.append((rec, payload))
        return "s3://failures/aws/lambda/esm-uuid/x"

    m = Mapping(**{**MAPPING.__dict__, "max_retries": 0, "bisect_on_error": False})
    result = Poller(
        OneShard([record(1, 3), record(2, 3)]),
        lambda e: Fails(),
        m,
        send_failure=send,
        clock=lambda: NOW,
    ).run()
    assert not result.ok and result.gave_up == 2
    assert "Gave up 2 records in 1 on-failure record(s), written to s3://failures." in (
        result.render()
    )
    assert [r["kinesisSchemaVersion"] for r in (x["kinesis"] for x in sent[0][1]["Records"])] == [
        "1.0",
        "1.0",
    ]
