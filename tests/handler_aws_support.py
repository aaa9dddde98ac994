"""The embedded AWS as the handler tests use it: clients, and the table and queue a function
writes its results and dead letters to (DynamoDB keyed on event_id, a standard SQS queue)."""

from __future__ import annotations

import json

import boto3


def aws_client(local, service: str):
    """A boto3 client of the embedded AWS ``local`` (test credentials)."""
    return boto3.client(
        service,
        endpoint_url=local.endpoint_url,
        region_name=local.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def create_table_and_queue(local, table: str, queue: str) -> None:
    """The results table (one item per event_id) and the dead-letter queue."""
    aws_client(local, "dynamodb").create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "event_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "event_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    aws_client(local, "sqs").create_queue(QueueName=queue)


def letters_by_event(local, queue: str) -> dict[str, int]:
    """Every message the dead-letter queue holds (then deleted), counted per event_id: a
    standard queue keeps every message it is sent, so this counts the writes."""
    sqs = aws_client(local, "sqs")
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    counts: dict[str, int] = {}
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        for m in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            event_id = json.loads(m["Body"])["event_id"]
            counts[event_id] = counts.get(event_id, 0) + 1
    return counts


def shard_letters(local, queue: str, shard: str) -> list[dict]:
    """The dead letters of one shard's events, drained from the queue (others' are dropped)."""
    sqs = aws_client(local, "sqs")
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    found = []
    for _ in range(20):
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            break
        for m in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            found.append(json.loads(m["Body"]))
    return [d for d in found if d["event_id"].startswith(shard + ":")]
