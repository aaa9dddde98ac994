"""Setting up and reading back AWS for the demo, the tests and the benchmarks (never production).

mlayer itself never creates a stream, table, queue or role, nor reads what the function wrote:
the demo and the tests do, on the embedded AWS. These helpers are built on the gateway's
generic ``call``/``paginate``, so they reach AWS the same way (and fail with the same errors)
as everything else.
"""

from __future__ import annotations

import json
from typing import Any

from mlayer.errors import NotFoundError


def ensure_stream(gw: Any, name: str, shards: int = 1) -> dict[str, Any]:
    """Create the stream if absent and wait until it is ACTIVE; returns its summary."""
    try:
        answer: dict[str, Any] = gw.describe_stream(name)
        return answer
    except NotFoundError:
        gw.call(
            "kinesis",
            "create_stream",
            f"Creating stream {name}",
            StreamName=name,
            ShardCount=shards,
        )
    deadline = gw.clock() + 60
    while True:
        summary: dict[str, Any] = gw.describe_stream(name)
        if summary["StreamStatus"] == "ACTIVE" or gw.clock() > deadline:
            return summary
        gw.sleep(0.5)


def ensure_queue(gw: Any, name: str) -> str:
    """The queue's URL, creating it if absent (CreateQueue is idempotent)."""
    answer: str = gw.call("sqs", "create_queue", f"Creating queue {name}", QueueName=name)[
        "QueueUrl"
    ]
    return answer


def receive_all(gw: Any, queue: str, max_rounds: int = 50) -> list[str]:
    """Drain a queue's visible messages: their bodies, each deleted once read."""
    url = gw.queue_url(queue)
    bodies: list[str] = []
    for _ in range(max_rounds):
        resp = gw.call(
            "sqs",
            "receive_message",
            f"Reading queue {queue}",
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
        )
        messages = resp.get("Messages", [])
        if not messages:
            break
        for m in messages:
            bodies.append(m["Body"])
            gw.call(
                "sqs",
                "delete_message",
                f"Deleting from {queue}",
                QueueUrl=url,
                ReceiptHandle=m["ReceiptHandle"],
            )
    return bodies


def ensure_table(gw: Any, name: str, key: str = "event_id") -> None:
    """An on-demand DynamoDB table keyed by ``key`` (a string), created if absent."""
    try:
        gw.call("dynamodb", "describe_table", f"Reading table {name}", TableName=name)
        return
    except NotFoundError:
        pass
    gw.call(
        "dynamodb",
        "create_table",
        f"Creating table {name}",
        TableName=name,
        KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def scan_table(gw: Any, name: str) -> list[dict[str, Any]]:
    """Every item of a table, in DynamoDB's typed form ({"id": {"S": ...}, ...})."""
    return list(gw.paginate("dynamodb", "scan", "Items", f"Reading table {name}", TableName=name))


def ensure_lambda_role(gw: Any, name: str) -> str:
    """A role Lambda may assume (the embedded AWS checks that a function's role exists)."""
    try:
        arn: str = gw.call("iam", "get_role", f"Reading role {name}", RoleName=name)["Role"]["Arn"]
        return arn
    except NotFoundError:
        pass
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    answer: str = gw.call(
        "iam",
        "create_role",
        f"Creating role {name}",
        RoleName=name,
        AssumeRolePolicyDocument=json.dumps(trust),
    )["Role"]["Arn"]
    return answer


def list_keys(gw: Any, bucket: str, prefix: str = "") -> list[str]:
    """Keys of a bucket under ``prefix``."""
    return [
        o["Key"]
        for o in gw.paginate(
            "s3",
            "list_objects_v2",
            "Contents",
            f"Listing s3://{bucket}/{prefix}",
            Bucket=bucket,
            Prefix=prefix,
            **gw.bucket_owner(),
        )
    ]


ADMIN_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


def create_user(
    gw: Any, name: str, policy: dict[str, Any], policy_name: str = "mlayer"
) -> dict[str, str]:
    """An IAM user holding exactly ``policy`` (inline, named ``policy_name``); its credentials
    as variables.

    Three requests: on a server started with --enforce-iam, the administrator is made with the
    free ones (local/iam_enforcement.FREE_REQUESTS), every other user by the administrator."""
    gw.call("iam", "create_user", f"Creating user {name}", UserName=name)
    set_user_policy(gw, name, policy, policy_name)
    key = gw.call("iam", "create_access_key", f"Creating a key of {name}", UserName=name)
    return {
        "AWS_ACCESS_KEY_ID": key["AccessKey"]["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": key["AccessKey"]["SecretAccessKey"],
    }


def set_user_policy(
    gw: Any, name: str, policy: dict[str, Any], policy_name: str = "mlayer"
) -> None:
    """Write the user's inline policy ``policy_name`` (replacing one of that name): what the
    tests of each statement's necessity narrow, and the demo's grant per function."""
    gw.call(
        "iam",
        "put_user_policy",
        f"Writing the policy {policy_name} of user {name}",
        UserName=name,
        PolicyName=policy_name,
        PolicyDocument=json.dumps(policy),
    )
