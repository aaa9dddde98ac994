"""gateway/file_events.py on botocore's Stubber: each request checked against the S3 and Lambda
service models, with the exact parameters.

GIVEN a bucket with other notifications (a queue, another function's, a suffix mlayer no longer
wants), WHEN mlayer sets its own, THEN the others are sent back as they were; the permission
names the bucket and account; a function without a policy has no statements.
"""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber

from mlayer.gateway import Gateway
from mlayer.gateway.file_events import LambdaNotification

FN = "arn:aws:lambda:us-east-1:123456789012:function:scorer"
QUEUE = {"Id": "audit", "QueueArn": "arn:aws:sqs:us-east-1:123456789012:audit", "Events": ["s3:ObjectRemoved:*"]}  # fmt: skip
THEIRS = {
    "Id": "thumbnails",
    "LambdaFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:thumbs",
    "Events": ["s3:ObjectCreated:*"],
    "Filter": {"Key": {"FilterRules": [{"Name": "Suffix", "Value": ".png"}]}},
}
OLD = {
    "Id": "mlayer-scorer-tsv",
    "LambdaFunctionArn": FN,
    "Events": ["s3:ObjectCreated:*"],
    "Filter": {"Key": {"FilterRules": [{"Name": "Prefix", "Value": "drop/"}]}},
}


def client(service: str):
    return boto3.client(
        service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


@pytest.fixture
def rig():
    s3, lam = client("s3"), client("lambda")
    gw = Gateway(region="us-east-1", clients={"s3": s3, "lambda": lam}, account="123456789012")
    with Stubber(s3) as s3_stub, Stubber(lam) as lam_stub:
        yield gw, s3_stub, lam_stub
        s3_stub.assert_no_pending_responses()
        lam_stub.assert_no_pending_responses()


def test_the_buckets_other_notifications_are_sent_back_as_they_were(rig):
    gw, s3, _ = rig
    current = {"QueueConfigurations": [QUEUE], "LambdaFunctionConfigurations": [THEIRS, OLD]}
    s3.add_response("get_bucket_notification_configuration", current, {"Bucket": "exports"})
    views = gw.lambda_notifications("exports")
    assert [(v.id, v.prefix, v.suffix) for v in views] == [
        ("thumbnails", "", ".png"),
        ("mlayer-scorer-tsv", "drop/", ""),
    ]
    wanted = LambdaNotification("mlayer-scorer-csv", FN, ("s3:ObjectCreated:*",), "drop/", ".csv")
    s3.add_response("get_bucket_notification_configuration", current, {"Bucket": "exports"})
    sent = {
        "QueueConfigurations": [QUEUE],
        "LambdaFunctionConfigurations": [
            THEIRS,
            {
                "Id": "mlayer-scorer-csv",
                "LambdaFunctionArn": FN,
                "Events": ["s3:ObjectCreated:*"],
                "Filter": {
                    "Key": {
                        "FilterRules": [
                            {"Name": "prefix", "Value": "drop/"},
                            {"Name": "suffix", "Value": ".csv"},
                        ]
                    }
                },
            },
        ],
    }
    s3.add_response(
        "put_bucket_notification_configuration",
        {},
        {"Bucket": "exports", "NotificationConfiguration": sent},
    )
    gw.set_lambda_notifications("exports", frozenset({"thumbnails"}), [wanted])


def test_s3_may_invoke_the_alias_for_this_bucket_and_account_only(rig):
    gw, _, lam = rig
    lam.add_response(
        "add_permission",
        {"Statement": "{}"},
        {
            "FunctionName": "scorer",
            "StatementId": "mlayer-s3-exports",
            "Action": "lambda:InvokeFunction",
            "Principal": "s3.amazonaws.com",
            "SourceArn": "arn:aws:s3:::exports",
            "SourceAccount": "123456789012",
            "Qualifier": "live",
        },
    )
    gw.allow_s3_invoke("scorer", "mlayer-s3-exports", "exports", "123456789012", "live")


def test_the_policy_is_read_as_statements_and_none_is_no_statement(rig):
    gw, _, lam = rig
    policy = {
        "Statement": [
            {
                "Sid": "mlayer-s3-exports",
                "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "lambda:InvokeFunction",
                "Resource": FN,
                "Condition": {
                    "StringEquals": {"AWS:SourceAccount": "123456789012"},
                    "ArnLike": {"AWS:SourceArn": "arn:aws:s3:::exports"},
                },
            }
        ]
    }
    lam.add_response("get_policy", {"Policy": json.dumps(policy)}, {"FunctionName": "scorer"})
    (statement,) = gw.invoke_permissions("scorer")
    assert (statement.sid, statement.principal, statement.source_arn, statement.source_account) == (
        "mlayer-s3-exports",
        "s3.amazonaws.com",
        "arn:aws:s3:::exports",
        "123456789012",
    )
    lam.add_client_error(
        "get_policy", "ResourceNotFoundException", "No policy", 404, {"FunctionName": "scorer"}
    )
    assert gw.invoke_permissions("scorer") == []
