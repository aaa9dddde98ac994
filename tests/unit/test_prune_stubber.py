"""What prune needs from AWS that the embedded AWS cannot produce, on botocore's Stubber:
provisioned concurrency listed per qualifier (and the plan protecting it), and AWS's 409 for a
version an alias points to (moto deletes it)."""

from __future__ import annotations

import datetime as _dt

import boto3
import pytest
import strict_requests
from botocore.stub import Stubber

from mlayer.errors import AwsError
from mlayer.gateway import Gateway

FN = "fn"
ARN = f"arn:aws:lambda:us-east-1:123456789012:function:{FN}"


@pytest.fixture
def rig():
    client = boto3.client(
        "lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    strict_requests.install(client.meta.events)
    stub = Stubber(client)
    gw = Gateway(region="us-east-1", clients={"lambda": client}, account="123456789012")
    with stub:
        yield stub, gw
        stub.assert_no_pending_responses()


def test_provisioned_concurrency_is_listed_per_qualifier(rig):
    stub, gw = rig
    stub.add_response(
        "list_provisioned_concurrency_configs",
        {
            "ProvisionedConcurrencyConfigs": [
                {"FunctionArn": f"{ARN}:live", "RequestedProvisionedConcurrentExecutions": 2},
                {"FunctionArn": f"{ARN}:7", "RequestedProvisionedConcurrentExecutions": 1},
            ]
        },
        {"FunctionName": FN},
    )
    assert gw.provisioned_qualifiers(FN) == ("live", "7")


def test_an_endpoint_without_the_listing_says_so_with_none(rig):
    stub, gw = rig
    stub.add_client_error("list_provisioned_concurrency_configs", "404", http_status_code=404)
    assert gw.provisioned_qualifiers(FN) is None


def test_aws_refuses_to_delete_a_version_an_alias_points_to(rig):
    stub, gw = rig
    stub.add_client_error(
        "delete_function",
        "ResourceConflictException",
        "Unable to delete version because the following aliases reference it: [live]",
        http_status_code=409,
        expected_params={"FunctionName": FN, "Qualifier": "3"},
    )
    with pytest.raises(AwsError) as info:
        gw.delete_function_version(FN, 3)
    assert info.value.code == "ResourceConflictException"


def test_a_version_already_gone_is_not_an_error(rig):
    stub, gw = rig
    stub.add_client_error(
        "delete_function",
        "ResourceNotFoundException",
        http_status_code=404,
        expected_params={"FunctionName": FN, "Qualifier": "4"},
    )
    assert gw.delete_function_version(FN, 4) is False


def test_versions_and_aliases_become_typed_views(rig):
    stub, gw = rig
    now = _dt.datetime(2026, 12, 7, tzinfo=_dt.timezone.utc)
    layer = "arn:aws:lambda:us-east-1:123456789012:layer:m:2"
    stub.add_response(
        "list_versions_by_function",
        {
            "Versions": [
                {"FunctionName": FN, "Version": "$LATEST", "CodeSize": 5},
                {
                    "FunctionName": FN,
                    "Version": "3",
                    "CodeSize": 160,
                    "LastModified": "2026-11-01T10:00:00.000+0200",
                    "Layers": [{"Arn": layer, "CodeSize": 9}],
                    "Environment": {
                        "Variables": {
                            "MLAYER_SHADOW_LAYER": "s3://bkt/layers/ab12.zip#ab12",
                            "OTHER": "plain",
                        }
                    },
                },
            ]
        },
        {"FunctionName": FN},
    )
    stub.add_response(
        "list_aliases",
        {
            "Aliases": [
                {
                    "Name": "live",
                    "FunctionVersion": "3",
                    "RoutingConfig": {"AdditionalVersionWeights": {"2": 0.1}},
                }
            ]
        },
        {"FunctionName": FN},
    )
    (version,) = gw.function_version_views(FN, now)
    assert version.version == 3 and version.code_size == 160 and version.layers == (layer,)
    assert version.object_refs == ("bkt/layers/ab12.zip",)
    assert version.last_modified == _dt.datetime(2026, 11, 1, 8, tzinfo=_dt.timezone.utc)
    (alias,) = gw.alias_views(FN)
    assert (alias.name, alias.version, dict(alias.weights)) == ("live", "3", {"2": 0.1})


def test_the_plan_protects_a_version_with_provisioned_concurrency():
    from mlayer.prune.plan import plan_prune
    from mlayer.prune.types import AliasView, FunctionVersionView, Inventory

    old = _dt.datetime(2026, 1, 1, tzinfo=_dt.timezone.utc)
    inv = Inventory(
        function=FN,
        model_layer="m",
        deps_layer="d",
        latest_layers=(),
        versions=tuple(FunctionVersionView(n, 1, old, ()) for n in range(1, 9)),
        aliases=(AliasView("live", "8"),),
        provisioned=("7", "live"),
        mapped=(),
        model_versions=(),
        deps_versions=(),
        model_refs={},
        objects={},
    )
    plan = plan_prune(inv, keep=1, older_than_days=0, now=old + _dt.timedelta(days=1))
    assert {i.version for i in plan.function_versions} == {1, 2, 3, 4, 5, 6}
    kept = {i.version: {r.code for r in i.reasons} for i in plan.kept}
    assert kept[7] == {"provisioned"} and kept[8] >= {"alias", "provisioned"}
