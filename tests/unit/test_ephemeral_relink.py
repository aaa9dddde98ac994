"""A relink to an S3-stored model sets /tmp in the same UpdateFunctionConfiguration.

The embedded AWS ignores EphemeralStorage on update, so the request is checked against
botocore's own service model with Stubber: the parameter names and shapes are AWS's.
"""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from mlayer.gateway import Gateway
from mlayer.publishing import ephemeral, model_store
from mlayer.publishing.models import RelinkPlan
from mlayer.publishing.relink import LinkSettings, Relinker

FN = "fn"
DEPS = "arn:aws:lambda:us-east-1:123456789012:layer:deps:1"
OLD = "arn:aws:lambda:us-east-1:123456789012:layer:m:1"
NEW = "arn:aws:lambda:us-east-1:123456789012:layer:m:2"
MB = 1024 * 1024


@pytest.fixture
def rig():
    client = boto3.client(
        "lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    gw = Gateway(region="us-east-1", clients={"lambda": client}, sleep=lambda s: None)
    with Stubber(client) as stub:
        yield stub, Relinker(gw, timeout=5, poll=1)
        stub.assert_no_pending_responses()


def _config(layers, size=512, rev="r1"):
    return {
        "FunctionName": FN,
        "RevisionId": rev,
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "Layers": [{"Arn": a, "CodeSize": 1} for a in layers],
        "EphemeralStorage": {"Size": size},
    }


def _big_manifest(size: int) -> dict:
    arts = [{"file": "00-model.joblib", "sha256": "a" * 64, "size": size, "role": "model"}]
    return model_store.to_s3_form({"artifacts": arts}, "bkt")


def test_relink_to_a_big_s3_model_grows_tmp_with_the_layers(rig):
    stub, relinker = rig
    tmp = ephemeral.plan_ephemeral(_big_manifest(2000 * MB), _config((DEPS, OLD)))
    assert tmp.size_mb == 2264
    stub.add_response("get_function_configuration", _config((DEPS, OLD)), {"FunctionName": FN})
    stub.add_response(
        "update_function_configuration",
        _config((DEPS, NEW), 2264, "r2"),
        {
            "FunctionName": FN,
            "RevisionId": "r1",
            "Layers": [DEPS, NEW],
            "EphemeralStorage": {"Size": 2264},
        },
    )
    stub.add_response(
        "get_function_configuration", _config((DEPS, NEW), 2264, "r2"), {"FunctionName": FN}
    )
    plan = RelinkPlan(FN, "m", (DEPS, OLD), (DEPS, NEW), OLD, NEW, 1000)
    outcome = relinker.apply(plan, settings=LinkSettings(tmp_mb=tmp.size_mb))
    assert outcome.attempts == 1 and outcome.revision_id == "r2"


def test_tmp_alone_is_updated_when_the_layers_are_already_right(rig):
    stub, relinker = rig
    stub.add_response("get_function_configuration", _config((DEPS, NEW)), {"FunctionName": FN})
    stub.add_response(
        "update_function_configuration",
        _config((DEPS, NEW), 1024),
        {
            "FunctionName": FN,
            "RevisionId": "r1",
            "Layers": [DEPS, NEW],
            "EphemeralStorage": {"Size": 1024},
        },
    )
    stub.add_response("get_function_configuration", _config((DEPS, NEW)), {"FunctionName": FN})
    same = RelinkPlan(FN, "m", (DEPS, NEW), (DEPS, NEW), NEW, NEW, 1000)
    assert relinker.apply(same, settings=LinkSettings(tmp_mb=1024)).attempts == 1


def test_a_layer_model_sends_no_ephemeral_storage(rig):
    stub, relinker = rig
    tmp = ephemeral.plan_ephemeral({"artifacts": [{"size": 100 * MB}]}, _config((DEPS, OLD)))
    assert tmp.size_mb is None
    stub.add_response("get_function_configuration", _config((DEPS, OLD)), {"FunctionName": FN})
    stub.add_response(
        "update_function_configuration",
        _config((DEPS, NEW)),
        {"FunctionName": FN, "RevisionId": "r1", "Layers": [DEPS, NEW]},
    )
    stub.add_response("get_function_configuration", _config((DEPS, NEW)), {"FunctionName": FN})
    plan = RelinkPlan(FN, "m", (DEPS, OLD), (DEPS, NEW), OLD, NEW, 1000)
    relinker.apply(plan, settings=LinkSettings(tmp_mb=tmp.size_mb))
