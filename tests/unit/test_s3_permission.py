"""status's permission check: IAM's policy simulator, answered by Stubber (moto has none)."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from mlayer.gateway import Gateway
from mlayer.publishing import model_store

ROLE = "arn:aws:iam::123456789012:role/mlayer-predict"
KEYS = ["arn:aws:s3:::acme-ml/models/" + "a" * 64, "arn:aws:s3:::acme-ml/models/" + "b" * 64]


@pytest.fixture
def iam():
    client = boto3.client(
        "iam", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stub:
        yield stub, Gateway(region="us-east-1", clients={"iam": client})
        stub.assert_no_pending_responses()


def _answer(stub, *decisions: str) -> None:
    stub.add_response(
        "simulate_principal_policy",
        {
            "EvaluationResults": [
                {"EvalActionName": "s3:GetObject", "EvalResourceName": k, "EvalDecision": d}
                for k, d in zip(KEYS, decisions, strict=True)
            ]
        },
        {"PolicySourceArn": ROLE, "ActionNames": ["s3:GetObject"], "ResourceArns": KEYS},
    )


@pytest.mark.parametrize(
    ("decisions", "granted"),
    [(("allowed", "allowed"), "yes"), (("allowed", "implicitDeny"), "no")],
)
def test_the_role_may_read_every_key_or_not(iam, decisions, granted):
    stub, gw = iam
    _answer(stub, *decisions)
    assert model_store.role_can_read(gw, ROLE, KEYS) == granted


def test_no_simulation_allowed_is_unknown_never_a_guess(iam):
    stub, gw = iam
    stub.add_client_error("simulate_principal_policy", "AccessDenied", "no", 403)
    assert model_store.role_can_read(gw, ROLE, KEYS) == "unknown"
    assert model_store.role_can_read(gw, None, KEYS) == "unknown"
    assert model_store.role_can_read(gw, ROLE, []) == "yes"  # a layer model needs nothing
