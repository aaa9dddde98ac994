"""The request checker the functional tests install refuses what AWS refuses and moto takes."""

from __future__ import annotations

import boto3
import pytest
import strict_requests
from botocore.stub import Stubber


@pytest.fixture
def client():
    c = boto3.client(
        "lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    strict_requests.install(c.meta.events)
    return c


@pytest.mark.parametrize(
    "operation,params,why",
    [
        ("publish_version", {"FunctionName": "fn", "Description": "d" * 257}, "at most 256"),
        ("create_alias", {"FunctionName": "fn", "Name": "123", "FunctionVersion": "1"}, "match"),
        ("update_alias", {"FunctionName": "fn", "Name": "live", "FunctionVersion": "v1"}, "match"),
        ("update_function_configuration", {"FunctionName": "fn", "MemorySize": 64}, "under 128"),
        ("update_function_configuration", {"FunctionName": "fn", "Layers": ["x"] * 6}, None),
        ("get_layer_version_by_arn", {"Arn": "arn:aws:lambda:us-east-1:1:layer:x:1"}, "match"),
    ],
)
def test_refuses_what_aws_refuses(client, operation, params, why):
    with Stubber(client), pytest.raises(strict_requests.RefusedByAws) as err:
        getattr(client, operation)(**params)
    if why:
        assert why in str(err.value)


def test_lets_a_good_request_through(client):
    arn = "arn:aws:lambda:us-east-1:580247275435:layer:LambdaInsightsExtension:38"
    with Stubber(client) as stub:
        stub.add_response("get_layer_version_by_arn", {"LayerVersionArn": arn}, {"Arn": arn})
        assert client.get_layer_version_by_arn(Arn=arn)["LayerVersionArn"] == arn
