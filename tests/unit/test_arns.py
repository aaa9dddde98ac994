from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlayer.arns import LayerVersionArn, layer_name
from mlayer.errors import UsageError

ARN = "arn:aws:lambda:us-east-1:123456789012:layer:mlayer-predict-model:7"


def test_parse_and_format_round_trip():
    arn = LayerVersionArn.parse(ARN)
    assert (arn.region, arn.account, arn.name, arn.version) == (
        "us-east-1",
        "123456789012",
        "mlayer-predict-model",
        7,
    )
    assert str(arn) == ARN
    assert arn.layer_arn == ARN.rsplit(":", 1)[0]
    assert str(arn.with_version(8)).endswith(":8")


def test_other_partitions():
    assert (
        LayerVersionArn.parse("arn:aws-cn:lambda:cn-north-1:123456789012:layer:x:1").partition
        == "aws-cn"
    )


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "arn:aws:lambda:us-east-1:123456789012:layer:x",
        "arn:aws:lambda:us-east-1:123456789012:layer:x:0",
        "arn:aws:lambda:us-east-1:123456789012:function:x:1",
        "arn:aws:lambda:us-east-1:12345:layer:x:1",
        "x:1",
    ],
)
def test_malformed_arns_are_refused(bad):
    with pytest.raises(UsageError):
        LayerVersionArn.parse(bad)
    assert layer_name(bad) is None


@given(
    name=st.from_regex(r"[A-Za-z0-9_-]{1,60}", fullmatch=True),
    version=st.integers(1, 10**6),
    account=st.from_regex(r"\d{12}", fullmatch=True),
)
def test_round_trip_property(name, version, account):
    text = f"arn:aws:lambda:eu-west-1:{account}:layer:{name}:{version}"
    assert str(LayerVersionArn.parse(text)) == text
    assert layer_name(text) == name
