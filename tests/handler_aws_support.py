"""The embedded AWS as the handler tests use it: clients, and the table and queue a function
writes its results and dead letters to (DynamoDB keyed on event_id, a standard SQS queue)."""

from __future__ import annotations

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
