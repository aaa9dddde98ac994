"""function/mlayer_function/sinks.py against the moto server over HTTP: idempotent writes, chunking, retries."""

from __future__ import annotations

import json
import sys

import boto3
import pytest
from botocore.stub import Stubber

from mlayer.local.aws import LOCAL_REGION

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2] / "function"))

from mlayer_function import sinks  # noqa: E402

SHARD = "shardId-000000000000"


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def doc(n: int, shard: str = SHARD, **extra) -> dict:
    return {
        "id": f"a-{n}",
        "prediction": "spam",
        "probabilities": {"ham": 0.25, "spam": 0.75},
        "model_version": "v1",
        "event_id": f"{shard}:{n}",
        "predicted_at": "2026-11-24T07:00:00.000Z",
        **extra,
    }


@pytest.fixture
def retry():
    sleeps = Sleeps()
    return sinks.Retry(attempts=3, base_delay=0.01, sleep=sleeps), sleeps


def make(url: str, retry_policy):
    return sinks.sink_from_url(url, retry=retry_policy)


# ------------------------------------------------------------------ DynamoDB


@pytest.fixture
def table(aws):
    ddb = boto3.client("dynamodb", region_name=LOCAL_REGION)
    ddb.create_table(
        TableName="predictions",
        KeySchema=[{"AttributeName": "event_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "event_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return ddb


def test_dynamodb_writes_every_item_and_a_replay_adds_none(table, retry):
    sink = make("dynamodb://predictions", retry[0])
    docs = [doc(n) for n in range(60)]
    assert sink.write(docs) == set()
    assert sink.write(docs[10:20]) == set()  # Lambda delivers part of it again
    assert table.scan(TableName="predictions", Select="COUNT")["Count"] == 60
    assert sink.already_there == 10
    assert retry[1].delays == []  # "already there" is a success, not something to retry


def test_dynamodb_a_replay_never_rewrites_a_stored_result(table, retry):
    """First write wins: a replay after a rollback keeps the prediction that was stored."""
    sink = make("dynamodb://predictions", retry[0])
    sink.write([doc(1, model_version="v2"), doc(2, model_version="v2")])
    replay = [doc(n, model_version="v1", prediction="ham") for n in (1, 2, 3)]
    assert sink.write(replay) == set()
    items = table.scan(TableName="predictions")["Items"]
    by_id = {i["event_id"]["S"]: i for i in items}
    assert by_id[f"{SHARD}:1"]["model_version"] == {"S": "v2"}
    assert by_id[f"{SHARD}:1"]["prediction"] == {"S": "spam"}
    assert by_id[f"{SHARD}:3"]["model_version"] == {"S": "v1"}


def test_dynamodb_items_keep_their_json_types(table, retry):
    sink = make("dynamodb://predictions", retry[0])
    sink.write([doc(1, extra={"nested": [1, 2.5, True, None, {"k": "v"}]}, id=7)])
    item = table.get_item(TableName="predictions", Key={"event_id": {"S": f"{SHARD}:1"}})["Item"]
    assert item["id"] == {"N": "7"}
    assert item["probabilities"]["M"]["spam"] == {"N": "0.75"}
    assert item["extra"]["M"]["nested"]["L"] == [
        {"N": "1"},
        {"N": "2.5"},
        {"BOOL": True},
        {"NULL": True},
        {"M": {"k": {"S": "v"}}},
    ]


@pytest.mark.parametrize(
    ("value", "attribute"),
    [
        (1e-200, {"N": "0"}),  # under DynamoDB's 1E-130: the whole item would be refused
        (0.125, {"N": "0.125"}),
        (float("nan"), {"S": "nan"}),
        (1e300, {"S": "1e+300"}),
        (10**40, {"S": str(10**40)}),
    ],
)
def test_dynamodb_numbers_outside_its_range_do_not_cost_the_item(value, attribute):
    assert sinks.to_attribute(value) == attribute


def test_dynamodb_a_missing_table_fails_fast_without_retrying(aws, retry):
    policy, sleeps = retry
    warnings = []
    sink = sinks.sink_from_url("dynamodb://nope", retry=policy, warn=warnings.append)
    assert sink.write([doc(1), doc(2)]) == {f"{SHARD}:1", f"{SHARD}:2"}
    assert sleeps.delays == []
    assert len(warnings) == 1 and "2 x ResourceNotFoundException" in warnings[0]


class FakeDynamoDB:
    """put_item answers from a script: event_id -> error codes for its successive calls."""

    def __init__(self, script: dict[str, list[str]]) -> None:
        import threading

        self.script = script
        self.calls: list[dict] = []
        self._lock = threading.Lock()

    def put_item(self, **params):
        from botocore.exceptions import ClientError

        with self._lock:
            self.calls.append(params)
            codes = self.script.get(params["Item"]["event_id"]["S"]) or [""]
            code = codes.pop(0) if len(codes) > 1 else codes[0]
        if code:
            raise ClientError({"Error": {"Code": code, "Message": "scripted"}}, "PutItem")
        return {}


def test_dynamodb_throttled_puts_are_resent_with_backoff_and_only_they(retry):
    policy, sleeps = retry
    throttled = "ProvisionedThroughputExceededException"
    fake = FakeDynamoDB({f"{SHARD}:2": [throttled, throttled, ""], f"{SHARD}:4": [throttled, ""]})
    sink = sinks.DynamoDBSink(fake, "predictions", policy)
    assert sink.write([doc(n) for n in range(1, 6)]) == set()
    assert sleeps.delays == [0.01, 0.02]
    sent = [c["Item"]["event_id"]["S"] for c in fake.calls]
    assert sorted(sent) == sorted([f"{SHARD}:{n}" for n in (1, 2, 2, 2, 3, 4, 4, 5)])
    assert all(c["ConditionExpression"] == "attribute_not_exists(event_id)" for c in fake.calls)


def test_dynamodb_gives_up_after_its_attempts_and_names_what_is_left(retry):
    policy, sleeps = retry
    warnings = []
    fake = FakeDynamoDB(
        {f"{SHARD}:2": ["ThrottlingException"], f"{SHARD}:3": ["ValidationException"]}
    )
    sink = sinks.DynamoDBSink(fake, "predictions", policy, warn=warnings.append)
    assert sink.write([doc(1), doc(2), doc(3)]) == {f"{SHARD}:2", f"{SHARD}:3"}
    assert len(sleeps.delays) == 2  # three attempts for the throttled one
    assert [c["Item"]["event_id"]["S"] for c in fake.calls].count(f"{SHARD}:3") == 1
    (warning,) = warnings
    assert "2 of 3 not written (1 refused, 1 still throttled after 3 attempts)" in warning


# ------------------------------------------------------------------ S3


@pytest.fixture
def bucket(aws):
    s3 = boto3.client("s3", region_name=LOCAL_REGION)
    s3.create_bucket(Bucket="results")
    return s3


def test_s3_key_comes_from_the_shard_and_the_integer_sequence_range(bucket, retry):
    sink = make("s3://results/out", retry[0])
    assert sink.write([doc(10), doc(9), doc(11)]) == set()
    assert sink.write([doc(9), doc(10), doc(11)]) == set()  # a replay overwrites
    keys = [o["Key"] for o in bucket.list_objects_v2(Bucket="results")["Contents"]]
    assert keys == [f"out/{SHARD}/9-11.jsonl"]
    body = bucket.get_object(Bucket="results", Key=keys[0])["Body"].read().decode()
    assert [json.loads(line)["id"] for line in body.splitlines()] == ["a-9", "a-10", "a-11"]


def test_s3_ids_without_sequence_numbers_get_an_order_independent_key():
    sink = sinks.S3Sink(None, "b", "", sinks.Retry())
    assert sink.key_for(["m-2", "m-1"]) == sink.key_for(["m-1", "m-2"])
    assert sink.key_for(["m-1"]).startswith("batches/")


def test_s3_a_missing_bucket_reports_the_whole_batch(aws, retry):
    sink = make("s3://no-such-bucket", retry[0])
    assert sink.write([doc(1)]) == {f"{SHARD}:1"}


# ------------------------------------------------------------------ Kinesis


def test_kinesis_records_arrive_as_json_with_the_event_id_as_partition_key(aws, retry):
    kinesis = boto3.client("kinesis", region_name=LOCAL_REGION)
    kinesis.create_stream(StreamName="out", ShardCount=1)
    sink = make("kinesis://out", retry[0])
    assert sink.write([doc(1), doc(2)]) == set()

    shard_id = kinesis.describe_stream(StreamName="out")["StreamDescription"]["Shards"][0][
        "ShardId"
    ]
    iterator = kinesis.get_shard_iterator(
        StreamName="out", ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = kinesis.get_records(ShardIterator=iterator)["Records"]
    assert [json.loads(r["Data"])["id"] for r in records] == ["a-1", "a-2"]
    assert records[0]["PartitionKey"] == f"{SHARD}:1"


def test_kinesis_resends_only_the_records_that_failed(retry):
    policy, sleeps = retry
    client = boto3.client("kinesis", region_name=LOCAL_REGION)
    sink = sinks.KinesisSink(client, "out", policy)
    with Stubber(client) as stub:
        stub.add_response(
            "put_records",
            {
                "FailedRecordCount": 1,
                "Records": [
                    {"SequenceNumber": "1", "ShardId": "s"},
                    {"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "x"},
                ],
            },
        )
        stub.add_response(
            "put_records",
            {"Records": [{"SequenceNumber": "2", "ShardId": "s"}]},
            {
                "StreamName": "out",
                "Records": [
                    {"Data": sinks.to_json_line(doc(2)).encode(), "PartitionKey": f"{SHARD}:2"}
                ],
            },
        )
        assert sink.write([doc(1), doc(2)]) == set()
    assert len(sleeps.delays) == 1


# ------------------------------------------------------------------ SQS


def drain(sqs, url: str) -> list[dict]:
    out = []
    for _ in range(20):
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            return out
        out.extend(messages)
        for m in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return out


def test_sqs_sends_in_batches_of_ten_with_the_event_id_attribute(aws, retry):
    sqs = boto3.client("sqs", region_name=LOCAL_REGION)
    url = sqs.create_queue(QueueName="dead")["QueueUrl"]
    sink = make("sqs://dead", retry[0])
    assert sink.write([doc(n) for n in range(23)]) == set()
    messages = drain(sqs, url)
    assert len(messages) == 23
    ids = {m["MessageAttributes"]["event_id"]["StringValue"] for m in messages}
    assert ids == {f"{SHARD}:{n}" for n in range(23)}


def test_sqs_fifo_deduplicates_a_replay_on_the_event_id(aws, retry):
    sqs = boto3.client("sqs", region_name=LOCAL_REGION)
    url = sqs.create_queue(QueueName="out.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    sink = make("sqs://out.fifo", retry[0])
    assert sink.write([doc(1), doc(2)]) == set()
    assert sink.write([doc(1), doc(2)]) == set()
    assert sorted(json.loads(m["Body"])["id"] for m in drain(sqs, url)) == ["a-1", "a-2"]


def test_sqs_a_message_over_the_size_limit_is_refused_alone(aws, retry):
    sqs = boto3.client("sqs", region_name=LOCAL_REGION)
    url = sqs.create_queue(QueueName="dead")["QueueUrl"]
    sink = make("sqs://dead", retry[0])
    huge = doc(2, data="x" * (1024 * 1024))  # SQS takes up to 1 MiB per message
    assert sink.write([doc(1), huge, doc(3)]) == {f"{SHARD}:2"}
    assert len(drain(sqs, url)) == 2


# ------------------------------------------------------------------ URLs and stdout


@pytest.mark.parametrize("url", ["ftp://x", "dynamodb://", "predictions", "sqs:/q"])
def test_a_sink_url_that_names_nothing_known_is_refused(url):
    with pytest.raises(sinks.SinkConfigError):
        sinks.sink_from_url(url)


def test_stdout_writes_one_json_line_per_document(capsys):
    assert sinks.sink_from_url("stdout://").write([doc(1), doc(2)]) == set()
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["event_id"] for line in lines] == [f"{SHARD}:1", f"{SHARD}:2"]
