"""Issue 23 case 8: a throttled sink under the invocation's deadline, in the real handler.

The handler runs in a child Python with Lambda's path (function_support.HandlerProcess) and a
context whose deadline is a few seconds away. Throttling is injected at botocore's
``before-send``: every HTTP request of the call is answered 400
ProvisionedThroughputExceededException, botocore's own retries included, so the HTTP requests
counted are the ones the function really made. moto holds what was written; dead letters go to
a standard SQS queue, which keeps every message it is sent: counting them counts the writes.
"""

from __future__ import annotations

import json
import re

import pytest
from function_support import HandlerProcess, kinesis_event, sqs_event
from handler_aws_support import aws_client, create_table_and_queue, letters_by_event

pytestmark = pytest.mark.slow

TABLE, DLQ = "predictions", "dead-letters"
SHARD = "shardId-000000000000"
TIMEOUT_MS = 5000  # the reserve is then max(2 s, 5%) = 2 s
THROTTLED = {
    "operation": "dynamodb.BatchWriteItem",
    "mode": "http",
    "code": "ProvisionedThroughputExceededException",
    "delay": 0.3,  # a slow "no": four calls a round make a round last about 1.2 s
}


@pytest.fixture(scope="module")
def fn(tmp_path_factory, model_layers, deps_layer, runtime_dir, module_aws):
    """Text model -> DynamoDB, dead letters -> a standard SQS queue."""
    create_table_and_queue(module_aws, TABLE, DLQ)
    proc = HandlerProcess(
        model_dir=model_layers["text"],
        deps_layer=deps_layer,
        runtime_dir=runtime_dir,
        workdir=tmp_path_factory.mktemp("deadline-fn"),
        env={
            **module_aws.env,
            "MLAYER_OUTPUT_SINK": f"dynamodb://{TABLE}",
            "MLAYER_OUTPUT_DEAD_LETTER": f"sqs://{DLQ}",
        },
    )
    yield proc
    proc.close()


def batch(n: int, bad: set[int], prefix: str) -> list[dict]:
    """n records; those in ``bad`` have no id (a dead letter each)."""
    return [
        {"text": "no id here"} if i in bad else {"id": f"{prefix}-{i}", "text": "win free money"}
        for i in range(n)
    ]


def items_of(local, prefix: str) -> list[str]:
    pages = aws_client(local, "dynamodb").get_paginator("scan").paginate(TableName=TABLE)
    ids = [i["id"]["S"] for page in pages for i in page["Items"] if "id" in i]
    return sorted(i for i in ids if i.startswith(prefix + "-"))


def warnings(fn, since: int) -> list[str]:
    return [line["message"] for line in fn.log_lines()[since:] if line.get("level") == "WARN"]


def test_a_throttled_table_is_reported_before_the_deadline_and_nothing_is_written_twice(
    fn, module_aws
):
    payloads = batch(100, bad={0, 40, 90}, prefix="t")
    first_seq = 1000
    before = len(fn.log_lines())
    fn.set_faults([dict(THROTTLED)])
    try:
        response = fn.invoke(kinesis_event(payloads, first_seq=first_seq), timeout_ms=TIMEOUT_MS)
    finally:
        (throttle,) = fn.set_faults([])

    # batchItemFailures, not Lambda's "Task timed out": the first unwritten record, and time left.
    assert response == {"batchItemFailures": [{"itemIdentifier": str(first_seq + 1)}]}
    assert fn.left_ms > 0, f"returned {-fn.left_ms} ms past the deadline"
    metrics = fn.metrics()[-1]
    assert metrics["accounting"] == "records 100 = predicted 0 + dead_lettered 1 + failed 99"
    assert metrics["checkpoint"] == str(first_seq + 1)

    # One HTTP request per BatchWriteItem call (botocore retries nothing), four calls a round,
    # and the rounds stopped for the deadline before the attempts ran out.
    (gave_up,) = [w for w in warnings(fn, before) if "not written after retries" in w]
    rounds = int(re.search(r"\((\d+) attempts", gave_up).group(1))
    assert throttle["_used"] == 4 * rounds and rounds < 6
    assert "stopped retrying with" in gave_up and "ProvisionedThroughputExceeded" in gave_up

    # Only the letter before the checkpoint was written; 40 and 90 wait for the retry.
    assert letters_by_event(module_aws, DLQ) == {f"{SHARD}:{first_seq}": 1}
    assert items_of(module_aws, "t") == []

    # Lambda delivers the batch again from the checkpoint; the table has recovered.
    retry = kinesis_event(payloads[1:], first_seq=first_seq + 1)
    assert fn.invoke(retry, timeout_ms=TIMEOUT_MS) == {"batchItemFailures": []}
    assert fn.metrics()[-1]["accounting"] == (
        "records 99 = predicted 97 + dead_lettered 2 + failed 0"
    )
    assert letters_by_event(module_aws, DLQ) == {
        f"{SHARD}:{first_seq + 40}": 1,
        f"{SHARD}:{first_seq + 90}": 1,
    }
    assert len(items_of(module_aws, "t")) == 97  # nothing lost: 97 results + 3 letters, once


def test_an_sqs_batch_reports_each_unwritten_message_before_the_deadline(fn, module_aws):
    bodies = [json.dumps(p) for p in batch(30, bad={5}, prefix="q")]
    fn.set_faults([dict(THROTTLED)])
    try:
        response = fn.invoke(sqs_event(bodies, prefix="q"), timeout_ms=TIMEOUT_MS)
    finally:
        fn.set_faults([])
    assert fn.left_ms > 0
    failed = sorted(f["itemIdentifier"] for f in response["batchItemFailures"])
    assert failed == sorted(f"q-{i}" for i in range(30) if i != 5)
    assert (
        fn.metrics()[-1]["accounting"] == "records 30 = predicted 0 + dead_lettered 1 + failed 29"
    )
    assert letters_by_event(module_aws, DLQ) == {"q-5": 1}  # unordered: not delivered again

    again = sqs_event([bodies[i] for i in range(30) if i != 5], prefix="r")
    assert fn.invoke(again, timeout_ms=TIMEOUT_MS) == {"batchItemFailures": []}
    assert letters_by_event(module_aws, DLQ) == {}
    assert len(items_of(module_aws, "q")) == 29
