"""Layers read by their full ARN (issue 12 point 4), on botocore's Stubber: the AWS path
(GetLayerVersionByArn with the exact ARN, for one's own layers too), and the embedded AWS's
(GetLayerVersion by parts for the caller's account only; another account's size unknown)."""

from __future__ import annotations

import base64
import hashlib

import boto3
import pytest
import strict_requests
from botocore.stub import ANY, Stubber

from mlayer.errors import AwsError
from mlayer.gateway import Gateway
from mlayer.publishing.models import FunctionLayers
from mlayer.publishing.planner import plan_relink
from mlayer.publishing.store import ArtifactStore

ACCOUNT = "123456789012"
MINE = f"arn:aws:lambda:us-east-1:{ACCOUNT}:layer:deps:3"
MODEL_OLD = f"arn:aws:lambda:us-east-1:{ACCOUNT}:layer:m:1"
MODEL_NEW = f"arn:aws:lambda:us-east-1:{ACCOUNT}:layer:m:2"
INSIGHTS = "arn:aws:lambda:us-east-1:580247275435:layer:LambdaInsightsExtension:38"


def _client(service):
    client = boto3.client(
        service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    strict_requests.install(client.meta.events)
    return client


@pytest.fixture
def make():
    """make(endpoint) -> (gateway, {service: stubber}); every stub must be used up."""
    stubs = []

    def build(endpoint=None):
        clients = {s: _client(s) for s in ("lambda", "sts", "s3")}
        stubbers = {s: Stubber(c) for s, c in clients.items()}
        for stub in stubbers.values():
            stub.activate()
            stubs.append(stub)
        stubbers["sts"].add_response(
            "get_caller_identity",
            {"Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:user/test", "UserId": "AIDTEST"},
            {},
        )
        return Gateway(region="us-east-1", endpoint_url=endpoint, clients=clients), stubbers

    yield build
    for stub in stubs:
        stub.assert_no_pending_responses()
        stub.deactivate()


def _sha(arn):
    return base64.b64encode(hashlib.sha256(arn.encode()).digest()).decode()


def version(arn, size=1000):
    return {
        "LayerVersionArn": arn,
        "Version": int(arn.rsplit(":", 1)[1]),
        "Content": {"CodeSha256": _sha(arn), "CodeSize": size},
    }


def test_on_aws_another_accounts_layer_is_read_by_its_arn(make):
    gw, stub = make()
    stub["lambda"].add_response(
        "get_layer_version_by_arn", version(INSIGHTS, 5_000_000), {"Arn": INSIGHTS}
    )
    assert gw.read_layer_version(INSIGHTS)["Content"]["CodeSize"] == 5_000_000


def test_on_aws_ones_own_layer_is_read_by_its_arn_too(make):
    gw, stub = make()
    stub["lambda"].add_response("get_layer_version_by_arn", version(MINE), {"Arn": MINE})
    assert gw.read_layer_version(MINE)["LayerVersionArn"] == MINE


def test_on_aws_a_foreign_layer_its_owner_denies_is_unknown_but_ones_own_is_an_error(make):
    gw, stub = make()
    for _ in range(2):
        stub["lambda"].add_client_error(
            "get_layer_version_by_arn", "AccessDeniedException", "no", 403
        )
    assert gw.read_layer_version(INSIGHTS) is None
    with pytest.raises(AwsError, match="AccessDeniedException"):
        gw.read_layer_version(MINE)


def test_on_the_embedded_aws_own_layers_are_read_by_parts_and_foreign_ones_not_at_all(make):
    gw, stub = make("http://127.0.0.1:5000")
    stub["lambda"].add_response(
        "get_layer_version", version(MINE), {"LayerName": "deps", "VersionNumber": 3}
    )
    assert gw.read_layer_version(MINE)["LayerVersionArn"] == MINE
    assert gw.read_layer_version(INSIGHTS) is None  # never the same-named layer of one's own


def test_an_endpoint_without_the_call_falls_back_once_and_remembers(make):
    gw, stub = make("https://lambda.example.internal")
    stub["lambda"].add_client_error("get_layer_version_by_arn", "500", "not implemented", 500)
    for _ in range(2):
        stub["lambda"].add_response(
            "get_layer_version", version(MINE), {"LayerName": "deps", "VersionNumber": 3}
        )
    assert gw.read_layer_version(MINE)["LayerVersionArn"] == MINE
    assert gw.read_layer_version(MINE)["LayerVersionArn"] == MINE
    assert gw.read_layer_version(INSIGHTS) is None


def test_the_plan_counts_a_foreign_layer_unknown_and_keeps_it_first(make):
    gw, stub = make("http://127.0.0.1:5000")
    store = ArtifactStore(gw, "bkt")
    for arn in (MODEL_OLD, MINE):  # the order store.layer_size asks in
        name, number = arn.rsplit(":", 2)[1:]
        stub["lambda"].add_response(
            "get_layer_version",
            version(arn),
            {"LayerName": name, "VersionNumber": int(number)},
        )
    for _ in range(2):  # neither has a lock nor a zip in the bucket (each read once: cached)
        stub["s3"].add_client_error("get_object", "NoSuchKey", "absent", 404)  # the lock
        stub["s3"].add_client_error("get_object", "NoSuchKey", "absent", 404)  # the zip's tail
    current = FunctionLayers((INSIGHTS, MINE, MODEL_OLD), code_size=100)
    sizes = store.layer_sizes(current.arns, {MODEL_NEW: store.layer_size(MODEL_OLD)})
    assert not sizes[INSIGHTS].known and sizes[INSIGHTS].unzipped == 0
    plan = plan_relink("fn", current, "m", MODEL_NEW, sizes)
    assert plan.after == (INSIGHTS, MINE, MODEL_NEW) and plan.unknown_sizes == (INSIGHTS,)
    assert plan.to_dict()["unknown_sizes"] == [INSIGHTS] and not plan.sizes_exact


def test_a_foreign_layer_named_like_the_model_layer_is_not_the_model_layer():
    other = "arn:aws:lambda:us-east-1:580247275435:layer:m:7"
    current = FunctionLayers((other, MODEL_OLD))
    from mlayer.publishing.models import LayerSize

    sizes = {a: LayerSize(10) for a in (other, MODEL_OLD, MODEL_NEW)}
    plan = plan_relink("fn", current, "m", MODEL_NEW, sizes)
    assert plan.after == (other, MODEL_NEW) and plan.old_arn == MODEL_OLD


def test_the_requests_are_the_service_models(make):
    """The params above pass botocore's own model checks and the stricter ones AWS applies."""
    gw, stub = make()
    stub["lambda"].add_response("get_layer_version_by_arn", version(INSIGHTS), {"Arn": ANY})
    gw.read_layer_version(INSIGHTS)
    with pytest.raises(strict_requests.RefusedByAws, match="does not match"):
        gw.get_layer_version_by_arn("arn:aws:lambda:us-east-1:1:layer:y:1")  # not an account
