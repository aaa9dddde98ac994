"""gateway/iam_users.py: a user's inline policy, written on the embedded AWS, is read back as
its statements' Sids in their order; an absent policy is NotFoundError. Stubber: the exact
request, and the URL-encoded document IAM's own wire format carries."""

from __future__ import annotations

import json
import urllib.parse

import boto3
import pytest
from botocore.stub import Stubber

from mlayer.errors import NotFoundError
from mlayer.gateway import Gateway
from mlayer.gateway.iam_users import user_policy_sids
from mlayer.local import sandbox


def _statement(sid: str, action: str) -> dict:
    return {"Sid": sid, "Effect": "Allow", "Action": action, "Resource": "*"}


def test_the_sids_come_back_in_the_documents_order(gw):
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            _statement("Zeta", "s3:GetObject"),
            _statement("Alpha", "lambda:GetFunction"),
            {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"},
        ],
    }
    sandbox.create_user(gw, "deployer", policy, "scorer")
    assert user_policy_sids(gw, "deployer", "scorer") == ("Zeta", "Alpha", "")


def test_a_replaced_policy_reads_as_the_new_one(gw):
    one = {"Version": "2012-10-17", "Statement": [_statement("Old", "s3:GetObject")]}
    sandbox.create_user(gw, "deployer", one, "scorer")
    single = {"Version": "2012-10-17", "Statement": _statement("New", "s3:PutObject")}
    sandbox.set_user_policy(gw, "deployer", single, "scorer")
    assert user_policy_sids(gw, "deployer", "scorer") == ("New",)


def test_another_users_or_an_absent_policy_is_not_found(gw, aws):
    doc = {"Version": "2012-10-17", "Statement": [_statement("A", "s3:GetObject")]}
    sandbox.create_user(gw, "deployer", doc, "scorer")
    iam = boto3.client("iam", endpoint_url=aws.endpoint_url, region_name=aws.region)
    iam.create_user(UserName="other")
    iam.put_user_policy(UserName="other", PolicyName="x", PolicyDocument=json.dumps(doc))
    with pytest.raises(NotFoundError):
        user_policy_sids(gw, "deployer", "x")
    with pytest.raises(NotFoundError):
        user_policy_sids(gw, "nobody", "scorer")


def test_the_request_and_a_url_encoded_document():
    iam = boto3.client(
        "iam", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    gw = Gateway(region="us-east-1", clients={"iam": iam}, account="123456789012")
    doc = {"Version": "2012-10-17", "Statement": [_statement("Only", "s3:GetObject")]}
    with Stubber(iam) as stub:
        stub.add_response(
            "get_user_policy",
            {
                "UserName": "deployer",
                "PolicyName": "scorer",
                "PolicyDocument": urllib.parse.quote(json.dumps(doc)),
            },
            {"UserName": "deployer", "PolicyName": "scorer"},
        )
        assert user_policy_sids(gw, "deployer", "scorer") == ("Only",)
        stub.assert_no_pending_responses()
