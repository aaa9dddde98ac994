"""gateway/iam.py's requests, validated by Stubber against IAM's service model: the exact
parameters, the URL-encoded documents IAM returns, and an absent role as None."""

from __future__ import annotations

import datetime as dt
import json
import urllib.parse

import boto3
import pytest
from botocore.stub import Stubber

from mlayer.gateway import Gateway
from mlayer.gateway.iam import LAMBDA_TRUST

NAME = "mlayer-scorer"
ARN = f"arn:aws:iam::123456789012:role/{NAME}"
WHEN = dt.datetime(2026, 12, 7, tzinfo=dt.timezone.utc)
DOC = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
}


def _role() -> dict:
    return {
        "Path": "/",
        "RoleName": NAME,
        "RoleId": "AROAEXAMPLEEXAMPLE01",
        "Arn": ARN,
        "CreateDate": WHEN,
        "AssumeRolePolicyDocument": urllib.parse.quote(json.dumps(LAMBDA_TRUST)),
    }


@pytest.fixture
def iam():
    client = boto3.client(
        "iam", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stub:
        yield stub, Gateway(region="us-east-1", clients={"iam": client})
        stub.assert_no_pending_responses()


def test_get_role_reads_the_trust_and_says_none_for_an_absent_role(iam):
    stub, gw = iam
    stub.add_response("get_role", {"Role": _role()}, {"RoleName": NAME})
    assert gw.get_role(NAME) == {"Arn": ARN, "Trust": LAMBDA_TRUST}
    stub.add_client_error(
        "get_role", "NoSuchEntity", "no role", 404, expected_params={"RoleName": NAME}
    )
    assert gw.get_role(NAME) is None


def test_create_role_trusts_lambda_and_the_policy_is_written_whole(iam):
    stub, gw = iam
    stub.add_response(
        "create_role",
        {"Role": _role()},
        {
            "RoleName": NAME,
            "AssumeRolePolicyDocument": json.dumps(LAMBDA_TRUST),
            "Description": "d",
        },
    )
    assert gw.create_lambda_role(NAME, "d") == ARN
    stub.add_response(
        "put_role_policy",
        {},
        {
            "RoleName": NAME,
            "PolicyName": "mlayer",
            "PolicyDocument": json.dumps(DOC, sort_keys=True),
        },
    )
    gw.put_role_policy(NAME, "mlayer", DOC)


def test_role_policy_documents_are_the_inline_then_the_attached_default_versions(iam):
    stub, gw = iam
    encoded = urllib.parse.quote(json.dumps(DOC))
    stub.add_response(
        "list_role_policies", {"PolicyNames": ["inline"], "IsTruncated": False}, {"RoleName": NAME}
    )
    stub.add_response(
        "get_role_policy",
        {"RoleName": NAME, "PolicyName": "inline", "PolicyDocument": encoded},
        {"RoleName": NAME, "PolicyName": "inline"},
    )
    managed = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    stub.add_response(
        "list_attached_role_policies",
        {"AttachedPolicies": [{"PolicyName": "basic", "PolicyArn": managed}], "IsTruncated": False},
        {"RoleName": NAME},
    )
    stub.add_response(
        "get_policy",
        {"Policy": {"PolicyName": "basic", "DefaultVersionId": "v3"}},
        {"PolicyArn": managed},
    )
    stub.add_response(
        "get_policy_version",
        {"PolicyVersion": {"Document": encoded, "VersionId": "v3", "IsDefaultVersion": True}},
        {"PolicyArn": managed, "VersionId": "v3"},
    )
    assert gw.role_policy_documents(NAME) == [DOC, DOC]


def test_assume_role_gives_the_variables_lambda_gives_a_function():
    client = boto3.client(
        "sts", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    gw = Gateway(region="us-east-1", clients={"sts": client})
    with Stubber(client) as stub:
        stub.add_response(
            "assume_role",
            {
                "Credentials": {
                    "AccessKeyId": "ASIAEXAMPLEEXAMPLE01",
                    "SecretAccessKey": "secret",
                    "SessionToken": "token",
                    "Expiration": WHEN,
                }
            },
            {"RoleArn": ARN, "RoleSessionName": "mlayer-emulation"},
        )
        assert gw.assume_role(ARN, "mlayer-emulation") == {
            "AWS_ACCESS_KEY_ID": "ASIAEXAMPLEEXAMPLE01",
            "AWS_SECRET_ACCESS_KEY": "secret",
            "AWS_SESSION_TOKEN": "token",
        }
