"""The artifact bucket on AWS terms: the caller's own by name, private, encrypted, owner-checked.

On the moto server for what it models (default name from STS, the three bucket settings), on
botocore's Stubber for what it does not (a bucket of another account answering 403,
ExpectedBucketOwner on every request). Stubber also checks each request against botocore's
service model, so a parameter S3 would refuse fails here.
"""

from __future__ import annotations

import io

import boto3
import pytest
from botocore.stub import ANY, Stubber

from mlayer.errors import AwsError
from mlayer.gateway import Gateway

ACCOUNT = "123456789012"  # moto's
OTHER = "210987654321"


def test_the_default_bucket_is_the_callers_own_by_name(gw):
    assert gw.artifact_bucket("") == f"mlayer-{ACCOUNT}-us-east-1"
    assert gw.artifact_bucket("acme-ml") == "acme-ml"


def test_a_created_bucket_is_private_owner_enforced_and_encrypted(gw, aws):
    bucket = gw.artifact_bucket("")
    assert gw.ensure_bucket(bucket) is True
    assert gw.ensure_bucket(bucket) is False
    s3 = boto3.client("s3", endpoint_url=aws.endpoint_url, region_name="us-east-1")
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert block == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    rules = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    assert rules == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    enc = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert enc[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    gw.put_json(bucket, "a.json", {"x": 1})
    assert gw.get_json(bucket, "a.json") == {"x": 1}


# ------------------------------------------------------------------ Stubber: what moto can't do


def stubbed(region: str = "us-east-1"):
    kw = {"region_name": region, "aws_access_key_id": "x", "aws_secret_access_key": "x"}
    s3, sts = boto3.client("s3", **kw), boto3.client("sts", **kw)
    gw = Gateway(region=region, clients={"s3": s3, "sts": sts})
    return gw, Stubber(s3), Stubber(sts)


def expect_account(sts_stub):
    sts_stub.add_response(
        "get_caller_identity",
        {"Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:user/ana", "UserId": "AIDAEXAMPLE"},
        {},
    )


def test_every_s3_request_names_the_expected_owner():
    gw, s3, sts = stubbed()
    expect_account(sts)
    owner = {"ExpectedBucketOwner": ACCOUNT}
    bucket = f"mlayer-{ACCOUNT}-us-east-1"
    s3.add_response(
        "put_object",
        {},
        {
            "Bucket": bucket,
            "Key": "k",
            "Body": b"v",
            "ContentType": "application/octet-stream",
            "ServerSideEncryption": "AES256",
            **owner,
        },
    )
    s3.add_response(
        "get_object", {"Body": io.BytesIO(b"v")}, {"Bucket": bucket, "Key": "k", **owner}
    )
    s3.add_response(
        "get_object",
        {"Body": io.BytesIO(b"v")},
        {"Bucket": bucket, "Key": "k", "Range": "bytes=0-0", **owner},
    )
    s3.add_response("head_object", {"ContentLength": 1}, {"Bucket": bucket, "Key": "k", **owner})
    with s3, sts:
        assert gw.artifact_bucket("") == bucket
        gw.put_bytes(bucket, "k", b"v")
        assert gw.get_bytes(bucket, "k") == b"v"
        assert gw.get_range(bucket, "k", 0, 0) == b"v"
        assert gw.object_size(bucket, "k") == 1
        s3.assert_no_pending_responses()
        sts.assert_no_pending_responses()  # the account is asked once


def test_ensure_bucket_outside_us_east_1_creates_it_locked_down():
    gw, s3, sts = stubbed("eu-west-1")
    expect_account(sts)
    bucket, owner = f"mlayer-{ACCOUNT}-eu-west-1", {"ExpectedBucketOwner": ACCOUNT}
    s3.add_client_error("head_bucket", "404", http_status_code=404)
    s3.add_response(
        "create_bucket",
        {"Location": "/x"},
        {"Bucket": bucket, "CreateBucketConfiguration": {"LocationConstraint": "eu-west-1"}},
    )
    s3.add_response(
        "put_public_access_block",
        {},
        {"Bucket": bucket, "PublicAccessBlockConfiguration": ANY, **owner},
    )
    s3.add_response(
        "put_bucket_ownership_controls",
        {},
        {
            "Bucket": bucket,
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            **owner,
        },
    )
    s3.add_response(
        "put_bucket_encryption",
        {},
        {"Bucket": bucket, "ServerSideEncryptionConfiguration": ANY, **owner},
    )
    with s3, sts:
        assert gw.ensure_bucket(gw.artifact_bucket("")) is True
        s3.assert_no_pending_responses()


@pytest.mark.parametrize(
    "operation, code, status",
    [("head_bucket", "403", 403), ("create_bucket", "BucketAlreadyExists", 409)],
)
def test_a_bucket_of_another_account_says_so_and_how_to_name_one(operation, code, status):
    gw, s3, sts = stubbed()
    expect_account(sts)
    if operation == "create_bucket":
        s3.add_client_error("head_bucket", "404", http_status_code=404)
    s3.add_client_error(operation, code, http_status_code=status)
    with s3, sts, pytest.raises(AwsError) as err:
        gw.ensure_bucket("mlayer-artifacts")
    assert "mlayer-artifacts belongs to another AWS account" in err.value.message
    assert ACCOUNT in err.value.message
    assert "[artifacts] bucket" in err.value.hint and "MLAYER_ARTIFACTS_BUCKET" in err.value.hint
    assert "credentials" not in err.value.hint  # not the old "check your profile"


def test_access_denied_on_an_object_of_a_foreign_bucket_names_the_bucket():
    gw, s3, sts = stubbed()
    expect_account(sts)
    s3.add_client_error("get_object", "AccessDenied", "Access Denied", http_status_code=403)
    with s3, sts, pytest.raises(AwsError) as err:
        gw.get_json("shared-bucket", "layers/x.lock.json")
    assert "shared-bucket belongs to another AWS account" in err.value.message
    assert err.value.code == "AccessDenied" and err.value.exit_code == 1


def test_injected_clients_without_sts_send_no_owner():
    """A gateway of stubbed clients and no STS cannot know the account: no ExpectedBucketOwner."""
    s3 = boto3.client(
        "s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    gw = Gateway(region="us-east-1", clients={"s3": s3})
    with Stubber(s3) as stub:
        stub.add_response("get_object", {"Body": io.BytesIO(b"{}")}, {"Bucket": "b", "Key": "k"})
        assert gw.get_json("b", "k") == {}
    assert Gateway(region="us-east-1", clients={"s3": s3}, account=OTHER).bucket_owner() == {
        "ExpectedBucketOwner": OTHER
    }


def test_a_gateway_of_stubs_never_asks_a_real_sts_for_the_account():
    s3 = boto3.client(
        "s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with pytest.raises(AwsError, match="none for STS") as err:
        Gateway(region="us-east-1", clients={"s3": s3}).artifact_bucket("")
    assert "account=" in err.value.hint
    named = Gateway(region="us-east-1", clients={"s3": s3}, account=OTHER)
    assert named.artifact_bucket("") == f"mlayer-{OTHER}-us-east-1"


def test_get_tail_is_one_suffix_range_get():
    """The size from Content-Range; a whole-object answer (no Content-Range) is its length;
    absent is None; S3's refusal of a range of an empty object is an empty object."""
    gw, s3, sts = stubbed()
    expect_account(sts)
    bucket, owner = f"mlayer-{ACCOUNT}-us-east-1", {"ExpectedBucketOwner": ACCOUNT}
    asked = {"Bucket": bucket, "Key": "k", "Range": "bytes=-4", **owner}
    s3.add_response(
        "get_object", {"Body": io.BytesIO(b"6789"), "ContentRange": "bytes 6-9/10"}, asked
    )
    s3.add_response("get_object", {"Body": io.BytesIO(b"012")}, asked)
    s3.add_client_error("get_object", "NoSuchKey", http_status_code=404, expected_params=asked)
    s3.add_client_error("get_object", "InvalidRange", http_status_code=416, expected_params=asked)
    with s3, sts:
        assert gw.get_tail(bucket, "k", 4) == (b"6789", 10)
        assert gw.get_tail(bucket, "k", 4) == (b"012", 3)
        assert gw.get_tail(bucket, "k", 4) is None
        assert gw.get_tail(bucket, "k", 4) == (b"", 0)
        s3.assert_no_pending_responses()
