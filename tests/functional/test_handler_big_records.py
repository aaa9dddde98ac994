"""Nothing lost, whatever a record holds: the real handler in a Lambda-like child process,
a real sklearn model, DynamoDB results, SQS dead letters and the S3 overflow on a moto server.

Each case puts one hostile record between good ones (a 1 MB record, a 5 MB text, a 5,000-digit
integer, a 450 KB id) and checks that every good record is in the table exactly once, that the
bad one is dead-lettered with a reason, and that its raw data can be read back (from S3 when
the letter was too big for SQS), with the EMF line accounting for every record.
"""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from function_support import HandlerProcess, kinesis_event
from handler_aws_support import aws_client, create_table_and_queue, shard_letters

pytestmark = pytest.mark.slow

# Names of their own: moto's state is per process, shared with other modules' servers.
TABLE, DLQ, BUCKET = "big-records-predictions", "big-records-dead-letters", "big-records-bucket"
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def fn(tmp_path_factory, model_layers, deps_layer, runtime_dir, module_aws):
    create_table_and_queue(module_aws, TABLE, DLQ)
    aws_client(module_aws, "s3").create_bucket(Bucket=BUCKET)
    proc = HandlerProcess(
        model_dir=model_layers["text"],
        deps_layer=deps_layer,
        runtime_dir=runtime_dir,
        workdir=tmp_path_factory.mktemp("big-records"),
        env={
            **module_aws.env,
            "MLAYER_OUTPUT_SINK": f"dynamodb://{TABLE}",
            "MLAYER_OUTPUT_DEAD_LETTER": f"sqs://{DLQ}",
            "MLAYER_DEAD_LETTER_OVERFLOW": f"s3://{BUCKET}/dead-letters/",
        },
    )
    yield proc
    proc.close()


def ids_in_table(local, shard: str) -> list[str]:
    pages = aws_client(local, "dynamodb").get_paginator("scan").paginate(TableName=TABLE)
    items = [i for page in pages for i in page["Items"] if i["event_id"]["S"].startswith(shard)]
    return sorted(i["id"]["S"] for i in items)


def dead_letters(local, shard: str) -> list[dict]:
    return shard_letters(local, DLQ, shard)


def raw_data(local, letter: dict) -> str:
    """The record's data as received: in the letter, or in S3 (checked by size and sha256)."""
    if "data" in letter:
        return letter["data"]
    pointer = letter["data_s3"]
    bucket, _, key = pointer["uri"].removeprefix("s3://").partition("/")
    body = aws_client(local, "s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    assert len(body) == pointer["size"]
    assert hashlib.sha256(body).hexdigest() == pointer["sha256"]
    return body.decode()


GOOD = ["win free money now", "see you at the meeting"]


def around(bad: bytes) -> list:
    """Two good records, the bad one, two good ones (raw bytes: json.dumps cannot write all)."""
    good = [json.dumps({"id": f"g-{i}", "text": GOOD[i % 2]}).encode() for i in range(4)]
    return [base64.b64encode(p).decode() for p in good[:2] + [bad] + good[2:]]


CASES = {
    "1MB-record": (
        json.dumps({"id": "big", "text": "w " * (MIB // 2 - 20)}).encode(),
        "text too long: text has",
        True,
    ),
    "5MB-text": (
        json.dumps({"id": "big", "text": "w " * (5 * MIB // 2)}).encode(),
        "text too long: text has",
        True,
    ),
    "5000-digit-integer": (
        b'{"id": "n", "text": "win", "amount": ' + b"9" * 5000 + b"}",
        "not JSON: Exceeds the limit (4300 digits)",
        False,
    ),
    "450KB-id": (
        json.dumps({"id": "i" * 450_000, "text": "win"}).encode(),
        f"result does not fit dynamodb://{TABLE}: item of",
        False,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_hostile_record_between_good_ones_is_dead_lettered_and_nothing_is_lost(
    fn, module_aws, case
):
    bad, reason, in_s3 = CASES[case]
    shard = f"shardId-{abs(hash(case)) % 10**12:012d}"
    event = kinesis_event(around(bad), shard=shard, first_seq=500, raw=True)

    response = fn.invoke(event)

    assert response == {"batchItemFailures": []}
    assert ids_in_table(module_aws, shard) == ["g-0", "g-1", "g-2", "g-3"]
    (letter,) = dead_letters(module_aws, shard)
    assert letter["event_id"] == f"{shard}:502"
    assert letter["reason"].startswith(reason), letter["reason"][:300]
    assert len(letter["reason"]) <= 600
    assert ("data_s3" in letter) == in_s3
    assert raw_data(module_aws, letter) == event["Records"][2]["kinesis"]["data"]
    emf = fn.metrics()[-1]
    assert (emf["records"], emf["predicted"], emf["dead_lettered"], emf["failed"]) == (5, 4, 1, 0)
    assert emf["accounting"] == "records 5 = predicted 4 + dead_lettered 1 + failed 0"
    assert emf["dead_letters_in_s3"] == (1 if in_s3 else 0)


def test_the_same_hostile_batch_delivered_twice_adds_no_row_and_no_s3_object(fn, module_aws):
    bad, _, _ = CASES["1MB-record"]
    shard = "shardId-000000000077"
    event = kinesis_event(around(bad), shard=shard, first_seq=900, raw=True)
    s3 = aws_client(module_aws, "s3")

    def overflow_keys():
        listing = s3.list_objects_v2(Bucket=BUCKET, Prefix="dead-letters/")
        return sorted(o["Key"] for o in listing.get("Contents", []))

    assert fn.invoke(event) == {"batchItemFailures": []}
    keys = overflow_keys()
    assert fn.invoke(event) == {"batchItemFailures": []}
    assert overflow_keys() == keys  # the same bytes under the same sha256 key
    assert ids_in_table(module_aws, shard) == ["g-0", "g-1", "g-2", "g-3"]
    letters = dead_letters(module_aws, shard)
    assert len(letters) == 2 and letters[0]["data_s3"] == letters[1]["data_s3"]
