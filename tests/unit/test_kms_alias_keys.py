"""An SSE-KMS trigger stream named by a KMS alias: deploying/role.py resolves the alias to its
key's ARN with DescribeKey (gateway/kms.py), because IAM authorizes kms:Decrypt on the key's ARN
and never on an alias's; a missing or unreadable alias is refused named, never granted ``*``.
Requests are validated by Stubber against the Kinesis and KMS service models."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from mlayer.config import Settings
from mlayer.config.loading import build
from mlayer.deploying import role
from mlayer.errors import AwsError
from mlayer.gateway import Gateway
from mlayer.policy import Arns, deployer_policy, function_policy

ACCOUNT, REGION = "123456789012", "us-east-1"
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{KEY_ID}"
ALIAS_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/records"
ARNS = Arns(ACCOUNT, REGION)


def settings() -> Settings:
    return build(Settings(), {"trigger": {"stream": "input"}}, origin="test").with_bucket("b")


def _summary(key: str | None) -> dict:
    summary = {
        "StreamName": "input",
        "StreamARN": f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/input",
        "StreamStatus": "ACTIVE",
        "RetentionPeriodHours": 24,
        "StreamCreationTimestamp": "2026-12-07T00:00:00Z",
        "EnhancedMonitoring": [],
        "OpenShardCount": 1,
        "EncryptionType": "KMS" if key else "NONE",
    }
    if key:
        summary["KeyId"] = key
    return {"StreamDescriptionSummary": summary}


def _key() -> dict:
    return {"KeyMetadata": {"KeyId": KEY_ID, "Arn": KEY_ARN, "KeyState": "Enabled"}}


@pytest.fixture
def aws():
    def client(service):
        return boto3.client(
            service, region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
        )

    kinesis, kms = client("kinesis"), client("kms")
    with Stubber(kinesis) as k, Stubber(kms) as m:
        gw = Gateway(region=REGION, clients={"kinesis": kinesis, "kms": kms}, account=ACCOUNT)
        yield k, m, gw
        k.assert_no_pending_responses()
        m.assert_no_pending_responses()


def _stream(stub, key: str | None) -> None:
    stub.add_response("describe_stream_summary", _summary(key), {"StreamName": "input"})


def test_key_arn_sends_describe_key_with_the_alias(aws):
    _k, kms, gw = aws
    kms.add_response("describe_key", _key(), {"KeyId": "alias/records"})
    assert gw.key_arn("alias/records") == KEY_ARN


@pytest.mark.parametrize("alias", ["alias/records", ALIAS_ARN])
def test_an_alias_is_granted_on_its_keys_arn(aws, alias):
    kinesis, kms, gw = aws
    _stream(kinesis, alias)
    kms.add_response("describe_key", _key(), {"KeyId": alias})
    keys = role.stream_keys(gw, settings())
    assert keys == {"trigger": KEY_ARN}
    (use,) = [s for s in function_policy(settings(), ARNS, keys)["Statement"] if "kms:" in str(s)]
    assert (use["Sid"], use["Action"], use["Resource"]) == ("UseKeyTrigger", "kms:Decrypt", KEY_ARN)


def test_a_key_id_or_aws_managed_alias_needs_no_describe_key(aws):
    kinesis, _m, gw = aws
    _stream(kinesis, KEY_ID)
    assert role.stream_keys(gw, settings()) == {"trigger": KEY_ID}  # its ARN: Arns.key
    _stream(kinesis, "alias/aws/kinesis")
    assert role.stream_keys(gw, settings()) == {}
    _stream(kinesis, f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/aws/kinesis")
    assert role.stream_keys(gw, settings()) == {}
    _stream(kinesis, KEY_ID)
    assert role.described_keys(gw, settings()) == {}  # nothing the deployer describes


@pytest.mark.parametrize(
    ("code", "said"),
    [
        ("NotFoundException", "Alias arn:aws:kms:us-east-1:123456789012:alias/gone is not found."),
        ("AccessDeniedException", "not authorized to perform: kms:DescribeKey"),
    ],
)
def test_a_missing_or_unreadable_alias_is_refused_named(aws, code, said):
    kinesis, kms, gw = aws
    _stream(kinesis, "alias/gone")
    kms.add_client_error("describe_key", code, said, 400, expected_params={"KeyId": "alias/gone"})
    with pytest.raises(AwsError) as refused:
        role.stream_keys(gw, settings())
    err = refused.value
    assert "input" in err.message and "alias/gone" in err.message and said in err.message
    assert "kms:DescribeKey" in err.hint and err.exit_code == 1


def test_the_deployer_describes_exactly_the_aliased_key(aws):
    kinesis, kms, gw = aws
    _stream(kinesis, "alias/records")
    kms.add_response("describe_key", _key(), {"KeyId": "alias/records"})
    described = role.described_keys(gw, settings())
    assert described == {"trigger": KEY_ARN}
    by_sid = {s["Sid"]: s for s in deployer_policy(settings(), ARNS, described)["Statement"]}
    assert by_sid["TriggerStreamKey"] == {
        "Sid": "TriggerStreamKey",
        "Effect": "Allow",
        "Action": "kms:DescribeKey",
        "Resource": KEY_ARN,
    }
    plain = {s["Sid"] for s in deployer_policy(settings(), ARNS)["Statement"]}
    assert "TriggerStreamKey" not in plain
