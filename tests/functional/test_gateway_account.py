"""The caller's account is asked of STS once per process for the same caller and endpoint
(gateway/base.account_id): a CLI command opens a Gateway of its own, and every one asked it
again. Whatever tells two callers apart asks again, and a gateway given its clients (Stubber)
always asks its own: nothing learnt by one caller reaches another."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from mlayer.gateway import Gateway
from mlayer.gateway.base import GatewayBase


@pytest.fixture
def asked(monkeypatch):
    """The STS calls every gateway makes, counted."""
    calls: list[str] = []
    real = GatewayBase.call

    def counting(self, service, operation, action, **params):
        if service == "sts":
            calls.append(operation)
        return real(self, service, operation, action, **params)

    monkeypatch.setattr(GatewayBase, "call", counting)
    return calls


def test_the_same_caller_on_the_same_endpoint_is_asked_once(aws, asked, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDSAMECALLER0001")
    first = Gateway(region=aws.region, endpoint_url=aws.endpoint_url).account_id()
    again = Gateway(region=aws.region, endpoint_url=aws.endpoint_url)
    assert again.account_id() == first and asked == ["get_caller_identity"]
    assert again.artifact_bucket("") == f"mlayer-{first}-{aws.region}"  # nothing else asked
    assert asked == ["get_caller_identity"]


def test_other_credentials_or_another_endpoint_ask_again(aws, asked, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDFIRSTCALLER001")
    Gateway(region=aws.region, endpoint_url=aws.endpoint_url).account_id()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDOTHERCALLER001")
    Gateway(region=aws.region, endpoint_url=aws.endpoint_url).account_id()
    monkeypatch.setenv("AWS_SESSION_TOKEN", "another-session")
    Gateway(region=aws.region, endpoint_url=aws.endpoint_url).account_id()
    same_server = aws.endpoint_url.replace("127.0.0.1", "localhost")
    Gateway(region=aws.region, endpoint_url=same_server).account_id()
    assert len(asked) == 4


def test_a_gateway_of_stubs_asks_its_own_sts(aws, asked, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDSTUBBEDCALLER1")
    real = Gateway(region=aws.region, endpoint_url=aws.endpoint_url).account_id()
    sts = boto3.client("sts", region_name=aws.region, endpoint_url=aws.endpoint_url)
    with Stubber(sts) as stub:
        stub.add_response(
            "get_caller_identity",
            {"Account": "111122223333", "Arn": "arn:aws:iam::111122223333:user/x", "UserId": "U"},
            {},
        )
        stubbed = Gateway(region=aws.region, endpoint_url=aws.endpoint_url, clients={"sts": sts})
        assert stubbed.account_id() == "111122223333" != real
        stub.assert_no_pending_responses()
    again = Gateway(region=aws.region, endpoint_url=aws.endpoint_url)
    assert again.account_id() == real  # the stub's answer was not learnt either
    assert asked == ["get_caller_identity", "get_caller_identity"]
