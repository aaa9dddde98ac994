"""function/mlayer_function/sinks.py against the moto server over HTTP: idempotent writes, chunking, retries."""

from __future__ import annotations

import hashlib
import json
import sys

import boto3
import pytest
from botocore.stub import Stubber

from mlayer.local.aws import LOCAL_REGION

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2] / "function"))

from mlayer_function import delivery, sink_dynamodb, sinks  # noqa: E402

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


class Calls:
    """Counts the API calls a boto3 client makes (botocore's own event hooks, no mock)."""

    def __init__(self, client, operation: str) -> None:
        self.count = 0
        client.meta.events.register(f"before-call.*.{operation}", self._seen)

    def _seen(self, **_) -> None:
        self.count += 1


def test_dynamodb_a_100_record_batch_is_four_batch_write_calls(table, retry):
    sink = make("dynamodb://predictions", retry[0])
    calls = Calls(sink._client, "BatchWriteItem")
    puts = Calls(sink._client, "PutItem")
    assert sink.write([doc(n) for n in range(100)]).undelivered == set()
    assert (calls.count, puts.count) == (4, 0)
    assert table.scan(TableName="predictions", Select="COUNT")["Count"] == 100


def test_dynamodb_a_replay_rewrites_the_same_rows_and_adds_none(table, retry):
    """Last write wins: a replay after a model change stores the new model's prediction."""
    sink = make("dynamodb://predictions", retry[0])
    sink.write([doc(n, model_version="v1") for n in range(30)])
    replay = [doc(n, model_version="v2", prediction="ham") for n in range(10, 40)]
    assert sink.write(replay).undelivered == set()
    items = table.scan(TableName="predictions")["Items"]
    assert len(items) == 40  # one row per event_id, whatever was delivered twice
    by_id = {i["event_id"]["S"]: i for i in items}
    assert by_id[f"{SHARD}:5"]["model_version"] == {"S": "v1"}
    assert by_id[f"{SHARD}:15"]["model_version"] == {"S": "v2"}
    assert by_id[f"{SHARD}:15"]["prediction"] == {"S": "ham"}
    assert retry[1].delays == []


def test_dynamodb_the_same_event_twice_in_one_write_is_one_put(table, retry):
    sink = make("dynamodb://predictions", retry[0])
    assert sink.write([doc(1), doc(1), doc(2)]).undelivered == set()
    assert table.scan(TableName="predictions", Select="COUNT")["Count"] == 2


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


def test_dynamodb_an_item_over_400kb_is_refused_alone_before_any_call(table, retry):
    sink = make("dynamodb://predictions", retry[0])
    calls = Calls(sink._client, "BatchWriteItem")
    big = doc(2, id="i" * 450_000)
    delivery = sink.write([doc(1), big, doc(3)])
    assert delivery.retry == set()
    assert list(delivery.refused) == [f"{SHARD}:2"]
    assert "over DynamoDB's 400000-byte item limit" in delivery.refused[f"{SHARD}:2"]
    assert calls.count == 1
    assert table.scan(TableName="predictions", Select="COUNT")["Count"] == 2


def test_dynamodb_an_item_just_under_400kb_is_written(table, retry):
    sink = make("dynamodb://predictions", retry[0])
    assert sink.write([doc(1, id="i" * 399_000)]).undelivered == set()


def test_dynamodb_item_size_follows_dynamodbs_rules():
    item = {k: sinks.to_attribute(v) for k, v in doc(1).items()}
    size = sink_dynamodb.item_size(item)
    encoded = len(json.dumps(doc(1), separators=(",", ":")).encode())
    assert 0 < size <= encoded * 2  # the prepare() shortcut's bound


def test_dynamodb_a_missing_table_fails_fast_without_blaming_the_records(aws, retry):
    policy, sleeps = retry
    warnings = []
    sink = sinks.sink_from_url("dynamodb://nope", retry=policy, warn=warnings.append)
    delivery = sink.write([doc(1), doc(2)])
    assert delivery.retry == {f"{SHARD}:1", f"{SHARD}:2"} and delivery.refused == {}
    assert sleeps.delays == []
    assert len(warnings) == 1 and "ResourceNotFoundException" in warnings[0]


def unprocessed(*event_ids: str) -> dict:
    return {
        "UnprocessedItems": {
            "predictions": [{"PutRequest": {"Item": {"event_id": {"S": e}}}} for e in event_ids]
        }
    }


def test_dynamodb_unprocessed_items_are_resent_with_backoff_and_only_they(retry):
    policy, sleeps = retry
    client = boto3.client("dynamodb", region_name=LOCAL_REGION)
    sink = sinks.DynamoDBSink(client, "predictions", policy)
    docs = [doc(n) for n in range(30)]
    with Stubber(client) as stub:
        stub.add_response("batch_write_item", unprocessed(f"{SHARD}:3", f"{SHARD}:7"))
        stub.add_response("batch_write_item", {})  # the other 5 of the first 30
        stub.add_response("batch_write_item", unprocessed(f"{SHARD}:7"))  # the two again
        stub.add_response("batch_write_item", {})
        assert sink.write(docs).undelivered == set()
        stub.assert_no_pending_responses()
    assert sleeps.delays == [0.01, 0.02]


def test_dynamodb_items_still_unprocessed_after_the_retries_are_reported(retry):
    policy, sleeps = retry
    warnings = []
    client = boto3.client("dynamodb", region_name=LOCAL_REGION)
    sink = sinks.DynamoDBSink(client, "predictions", policy, warn=warnings.append)
    with Stubber(client) as stub:
        for _ in range(policy.attempts):
            stub.add_response("batch_write_item", unprocessed(f"{SHARD}:2"))
        delivery = sink.write([doc(1), doc(2), doc(3)])
    assert delivery.retry == {f"{SHARD}:2"} and delivery.refused == {}
    assert len(sleeps.delays) == policy.attempts - 1
    assert "1 not written after retries" in warnings[0]


def test_dynamodb_a_validation_error_is_narrowed_to_the_item_dynamodb_refuses(retry):
    policy, _ = retry
    client = boto3.client("dynamodb", region_name=LOCAL_REGION)
    sink = sinks.DynamoDBSink(client, "predictions", policy)
    with Stubber(client) as stub:
        stub.add_client_error("batch_write_item", "ValidationException", "bad item somewhere")
        stub.add_response("put_item", {})
        stub.add_client_error("put_item", "ValidationException", "Nested too deep")
        stub.add_response("put_item", {})
        delivery = sink.write([doc(1), doc(2), doc(3)])
        stub.assert_no_pending_responses()
    assert delivery.retry == set()
    assert delivery.refused == {
        f"{SHARD}:2": "ClientError: An error occurred "
        "(ValidationException) when calling the PutItem operation: "
        "Nested too deep"
    }


# ------------------------------------------------------------------ S3


@pytest.fixture
def bucket(aws):
    s3 = boto3.client("s3", region_name=LOCAL_REGION)
    s3.create_bucket(Bucket="results")
    return s3


def test_s3_key_comes_from_the_shard_and_the_integer_sequence_range(bucket, retry):
    sink = make("s3://results/out", retry[0])
    assert sink.write([doc(10), doc(9), doc(11)]).undelivered == set()
    assert sink.write([doc(9), doc(10), doc(11)]).undelivered == set()  # a replay overwrites
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
    assert sink.write([doc(1)]).undelivered == {f"{SHARD}:1"}


# ------------------------------------------------------------------ Kinesis


def test_kinesis_records_arrive_as_json_with_the_event_id_as_partition_key(aws, retry):
    kinesis = boto3.client("kinesis", region_name=LOCAL_REGION)
    kinesis.create_stream(StreamName="out", ShardCount=1)
    sink = make("kinesis://out", retry[0])
    assert sink.write([doc(1), doc(2)]).undelivered == set()

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
                    {"Data": delivery.to_json_line(doc(2)).encode(), "PartitionKey": f"{SHARD}:2"}
                ],
            },
        )
        assert sink.write([doc(1), doc(2)]).undelivered == set()
    assert len(sleeps.delays) == 1


def test_kinesis_puts_split_at_five_mib_per_call_and_a_record_over_1mib_is_refused(aws, retry):
    kinesis = boto3.client("kinesis", region_name=LOCAL_REGION)
    kinesis.create_stream(StreamName="out", ShardCount=1)
    sink = make("kinesis://out", retry[0])
    calls = Calls(sink._client, "PutRecords")
    docs = [doc(n, data="x" * 900_000) for n in range(7)] + [doc(7, data="x" * (1024 * 1024))]
    delivery = sink.write(docs)
    assert delivery.retry == set() and list(delivery.refused) == [f"{SHARD}:7"]
    assert "over Kinesis's 1048576-byte limit" in delivery.refused[f"{SHARD}:7"]
    assert calls.count == 2  # 5 x 900 KB, then 2


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
    assert sink.write([doc(n) for n in range(23)]).undelivered == set()
    messages = drain(sqs, url)
    assert len(messages) == 23
    ids = {m["MessageAttributes"]["event_id"]["StringValue"] for m in messages}
    assert ids == {f"{SHARD}:{n}" for n in range(23)}


def test_sqs_fifo_deduplicates_a_replay_on_the_event_id(aws, retry):
    sqs = boto3.client("sqs", region_name=LOCAL_REGION)
    url = sqs.create_queue(QueueName="out.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    sink = make("sqs://out.fifo", retry[0])
    assert sink.write([doc(1), doc(2)]).undelivered == set()
    assert sink.write([doc(1), doc(2)]).undelivered == set()
    assert sorted(json.loads(m["Body"])["id"] for m in drain(sqs, url)) == ["a-1", "a-2"]


def test_sqs_a_message_over_the_size_limit_is_refused_alone(aws, retry):
    sqs = boto3.client("sqs", region_name=LOCAL_REGION)
    url = sqs.create_queue(QueueName="dead")["QueueUrl"]
    sink = make("sqs://dead", retry[0])
    huge = doc(2, data="x" * (1024 * 1024))  # SQS takes up to 1 MiB per message
    delivery = sink.write([doc(1), huge, doc(3)])
    assert delivery.retry == set() and list(delivery.refused) == [f"{SHARD}:2"]
    assert "over SQS's 1048576-byte limit" in delivery.refused[f"{SHARD}:2"]
    assert len(drain(sqs, url)) == 2


def test_sqs_batches_split_at_ten_messages_and_at_one_mib_per_call(aws, retry):
    sqs = boto3.client("sqs", region_name=LOCAL_REGION)
    url = sqs.create_queue(QueueName="out")["QueueUrl"]
    sink = make("sqs://out", retry[0])
    calls = Calls(sink._client, "SendMessageBatch")
    docs = [doc(n, data="x" * 300_000) for n in range(6)] + [doc(n) for n in range(6, 30)]
    assert sink.write(docs).undelivered == set()
    # three 300 KB messages fill 1 MiB; then 3 big + 7 small (10 messages), 10, 7
    assert calls.count == 4
    assert len(drain(sqs, url)) == 30


# ------------------------------------------------------------------ dead letters of any size


def overflow_fixture(aws, retry, dead_url="sqs://dead"):
    s3 = boto3.client("s3", region_name=LOCAL_REGION)
    s3.create_bucket(Bucket="artifacts")
    sqs = boto3.client("sqs", region_name=LOCAL_REGION)
    url = sqs.create_queue(QueueName="dead")["QueueUrl"]
    letters = sinks.dead_letters_from_url(dead_url, "s3://artifacts/dead-letters", retry=retry[0])
    return letters, s3, sqs, url


def letter(n: int, data: str) -> dict:
    return {
        "event_id": f"{SHARD}:{n}",
        "reason": "text too long",
        "data": data,
        "model_version": "v1",
        "failed_at": "2026-11-24T07:00:00.000Z",
    }


def test_a_dead_letter_too_big_for_sqs_keeps_its_data_in_s3(aws, retry):
    letters, s3, sqs, url = overflow_fixture(aws, retry)
    big = "QUJD" * 350_000  # 1.4 MB of base64, as a 1 MB Kinesis record arrives
    assert letters.write([letter(1, "small"), letter(2, big)]).undelivered == set()
    bodies = {json.loads(m["Body"])["event_id"]: json.loads(m["Body"]) for m in drain(sqs, url)}
    assert bodies[f"{SHARD}:1"]["data"] == "small"
    pointer = bodies[f"{SHARD}:2"]["data_s3"]
    assert "data" not in bodies[f"{SHARD}:2"] and bodies[f"{SHARD}:2"]["reason"] == "text too long"
    digest = hashlib.sha256(big.encode()).hexdigest()
    assert pointer == {
        "uri": f"s3://artifacts/dead-letters/{digest}",
        "size": len(big),
        "sha256": digest,
    }
    stored = s3.get_object(Bucket="artifacts", Key=f"dead-letters/{digest}")
    assert stored["Body"].read().decode() == big
    assert stored["Metadata"] == {"event-id": f"{SHARD}:2"}
    assert letters.overflowed == 1


@pytest.mark.parametrize(
    ("url", "size"),
    [("kinesis://dead", 1024 * 1024), ("dynamodb://dead", 400_000)],
    ids=["kinesis-1MiB", "dynamodb-400KB"],
)
def test_a_dead_letter_over_its_kinesis_or_dynamodb_limit_overflows_too(aws, retry, url, size):
    boto3.client("s3", region_name=LOCAL_REGION).create_bucket(Bucket="artifacts")
    if url.startswith("kinesis"):
        boto3.client("kinesis", region_name=LOCAL_REGION).create_stream(
            StreamName="dead", ShardCount=1
        )
    else:
        boto3.client("dynamodb", region_name=LOCAL_REGION).create_table(
            TableName="dead",
            KeySchema=[{"AttributeName": "event_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "event_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    letters = sinks.dead_letters_from_url(url, "s3://artifacts/dl/", retry=retry[0])
    fits, too_big = "y" * (size - 1000), "z" * (size + 10)
    assert letters.write([letter(1, fits), letter(2, too_big)]).undelivered == set()
    assert letters.overflowed == 1


def test_a_dead_letter_too_big_and_no_overflow_store_is_left_for_lambda_to_retry(aws, retry):
    sqs = boto3.client("sqs", region_name=LOCAL_REGION)
    sqs.create_queue(QueueName="dead")
    warnings = []
    letters = sinks.dead_letters_from_url("sqs://dead", "", retry=retry[0], warn=warnings.append)
    delivery = letters.write([letter(1, "small"), letter(2, "x" * (2 * 1024 * 1024))])
    assert delivery.retry == {f"{SHARD}:2"}
    assert "MLAYER_DEAD_LETTER_OVERFLOW" in warnings[0]


def test_a_dead_letter_to_s3_never_overflows(aws, retry):
    letters, s3, _, _ = overflow_fixture(aws, retry, dead_url="s3://artifacts/dead")
    assert letters.write([letter(1, "x" * (3 * 1024 * 1024))]).undelivered == set()
    assert letters.overflowed == 0
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="artifacts", Prefix="dead/")["Contents"]]
    assert keys == [f"dead/{SHARD}/1-1.jsonl"]


def test_an_overflow_url_that_is_not_s3_is_refused():
    with pytest.raises(sinks.SinkConfigError, match="MLAYER_DEAD_LETTER_OVERFLOW"):
        sinks.dead_letters_from_url("sqs://dead", "sqs://other", client_factory=lambda s: None)


# ------------------------------------------------------------------ URLs and stdout


@pytest.mark.parametrize("url", ["ftp://x", "dynamodb://", "predictions", "sqs:/q"])
def test_a_sink_url_that_names_nothing_known_is_refused(url):
    with pytest.raises(sinks.SinkConfigError):
        sinks.sink_from_url(url)


def test_stdout_writes_one_json_line_per_document(capsys):
    assert sinks.sink_from_url("stdout://").write([doc(1), doc(2)]).undelivered == set()
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["event_id"] for line in lines] == [f"{SHARD}:1", f"{SHARD}:2"]
