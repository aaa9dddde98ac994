"""The function's code zip in mlayer's Lambda emulation (the real runtime interface client over
the Runtime API), one Kinesis event holding a 1 MB record, a 5,000-digit integer and a 450 KB
id, each between good records: every good record is in DynamoDB exactly once, each bad one is
dead-lettered with a reason in SQS and its raw data can be read back (from S3 when too big).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os

import pytest
from emulated_support import RUNTIME, function_folders, interpreter_and_runtime
from function_support import kinesis_event
from handler_aws_support import aws_client, create_table_and_queue

from mlayer.local.emulator import Emulator, FunctionSpec

pytestmark = pytest.mark.slow
TABLE, DLQ, BUCKET = "emulated-predictions", "emulated-dead-letters", "emulated-artifacts"
MIB = 1024 * 1024


def payloads() -> tuple[list[bytes], dict[int, str]]:
    """Good records around each bad one; {position of a bad one: the start of its reason}."""
    good = iter(json.dumps({"id": f"g-{i}", "text": "win free money"}).encode() for i in range(8))
    one_mb = json.dumps({"id": "big", "text": "w " * (MIB // 2 - 100)}).encode()
    digits = b'{"id": "n", "text": "win", "amount": ' + b"9" * 5000 + b"}"
    big_id = json.dumps({"id": "i" * 450_000, "text": "win"}).encode()
    out = [next(good), next(good), one_mb, next(good), next(good), digits]
    out += [next(good), next(good), big_id, next(good), next(good)]
    reasons = {
        2: "text too long",
        5: "not JSON: Exceeds the limit (4300 digits)",
        8: f"result does not fit dynamodb://{TABLE}",
    }
    return out, reasons


def test_a_batch_with_a_1mb_record_a_huge_integer_and_a_450kb_id_loses_nothing(
    aws, tmp_path, model_layers
):
    from mlayer.deploying.deploy import HANDLER
    from mlayer.gateway import Gateway
    from mlayer.local.environment import function_aws_env

    create_table_and_queue(aws, TABLE, DLQ)
    aws_client(aws, "s3").create_bucket(Bucket=BUCKET)
    task, opt = function_folders(tmp_path, model_layers["text"])
    interpreter, rdir = interpreter_and_runtime()
    spec = FunctionSpec(
        name="big",
        handler=HANDLER,
        runtime=RUNTIME,
        task_root=task,
        opt_dir=opt,
        memory_mb=1024,
        timeout_s=60,
        environment={
            "MLAYER_OUTPUT_SINK": f"dynamodb://{TABLE}",
            "MLAYER_OUTPUT_DEAD_LETTER": f"sqs://{DLQ}",
            "MLAYER_DEAD_LETTER_OVERFLOW": f"s3://{BUCKET}/dead-letters/",
        },
        region=aws.region,
    )
    gateway = Gateway(region=aws.region, endpoint_url=aws.endpoint_url)
    raw, reasons = payloads()
    event = kinesis_event([base64.b64encode(p).decode() for p in raw], raw=True)
    with Emulator(
        spec,
        interpreter,
        rdir,
        caller_env={"PATH": os.environ["PATH"]},
        aws_env=function_aws_env(gateway),
    ) as em:
        result = em.invoke(event)

    assert result.error is None, result.payload
    assert result.payload == {"batchItemFailures": []}
    items = aws_client(aws, "dynamodb").scan(TableName=TABLE)["Items"]
    assert sorted(i["id"]["S"] for i in items) == [f"g-{i}" for i in range(8)]

    sqs = aws_client(aws, "sqs")
    url = sqs.get_queue_url(QueueName=DLQ)["QueueUrl"]
    letters = {}
    for _ in range(10):
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        for m in messages:
            body = json.loads(m["Body"])
            letters[body["event_id"]] = body
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        if not messages:
            break
    records = event["Records"]
    assert set(letters) == {records[i]["eventID"] for i in reasons}
    for position, reason in reasons.items():
        letter = letters[records[position]["eventID"]]
        assert letter["reason"].startswith(reason), letter["reason"][:200]
        if "data_s3" in letter:
            pointer = letter["data_s3"]
            key = pointer["uri"].removeprefix(f"s3://{BUCKET}/")
            data = aws_client(aws, "s3").get_object(Bucket=BUCKET, Key=key)["Body"].read()
            assert hashlib.sha256(data).hexdigest() == pointer["sha256"]
            data = data.decode()
        else:
            data = letter["data"]
        assert data == records[position]["kinesis"]["data"]
    assert "data_s3" in letters[records[2]["eventID"]]  # 1.4 MB of base64: over SQS's 1 MiB
