"""deploy-function's writes on botocore's Stubber: each request checked against Lambda's service
model and against the exact parameters expected (RevisionIds included), for what the embedded
AWS does not model: RevisionId and 412 PreconditionFailed, SnapStart (moto 5.2.5 always reports
ApplyOn None), provisioned concurrency (moto answers 404 to its API), versions that are Pending
while a snapshot is taken, and an S3 on-failure destination on a new mapping.
"""

from __future__ import annotations

import base64
import hashlib

import boto3
import pytest
from botocore.stub import ANY, Stubber

from mlayer.config import Settings, with_overrides
from mlayer.deploying.deploy_apply import apply_plan
from mlayer.deploying.deploy_plan import HANDLER, plan_alias, plan_function, plan_trigger
from mlayer.deploying.deploy_progress import DeployIncompleteError
from mlayer.gateway import Gateway
from mlayer.gateway.views import Alias, EventSourceMapping, FunctionConfig
from mlayer.publishing.relink import Relinker

FN = "scorer"
ROLE = "arn:aws:iam::123456789012:role/scorer"
ARN = f"arn:aws:lambda:us-east-1:123456789012:function:{FN}"
STREAM = "arn:aws:kinesis:us-east-1:123456789012:stream/input"
CODE = b"new code zip"
CODE_HEX = hashlib.sha256(CODE).hexdigest()
CODE_B64 = base64.b64encode(bytes.fromhex(CODE_HEX)).decode()
OLD_B64 = base64.b64encode(hashlib.sha256(b"old").digest()).decode()


def layer(name: str, version: int) -> str:
    return f"arn:aws:lambda:us-east-1:123456789012:layer:{name}:{version}"


DEPS1, DEPS2, MODEL1 = layer("scorer-deps", 1), layer("scorer-deps", 2), layer("scorer-model", 1)


class FakeTime:
    def __init__(self) -> None:
        self.now, self.sleeps = 0.0, []

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.now += s

    def clock(self) -> float:
        return self.now


@pytest.fixture
def rig():
    client = boto3.client(
        "lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    t = FakeTime()
    gw = Gateway(region="us-east-1", clients={"lambda": client}, sleep=t.sleep, clock=t.clock)
    with Stubber(client) as stub:
        yield stub, gw, Relinker(gw, timeout=30, poll=1)
        stub.assert_no_pending_responses()


def settings(**function) -> Settings:
    return with_overrides(
        Settings().with_bucket("b"),
        function={"name": FN, "role": ROLE, **function},
        model={"layer": "scorer-model", "alias": "live"},
        deps={"layer": "scorer-deps"},
        trigger={"stream": STREAM, "max_retries": 5},
    )


def live(**overrides) -> dict:
    """$LATEST as GetFunctionConfiguration answers it."""
    config = {
        "FunctionName": FN,
        "FunctionArn": ARN,
        "Runtime": "python3.12",
        "Handler": "legacy.handler",
        "Architectures": ["arm64"],
        "MemorySize": 512,
        "Timeout": 60,
        "Role": ROLE,
        "Layers": [{"Arn": DEPS1, "CodeSize": 1}, {"Arn": MODEL1, "CodeSize": 1}],
        "Environment": {"Variables": {"MLAYER_OUTPUT_SINK": "stdout://"}},
        "CodeSha256": OLD_B64,
        "RevisionId": "r0",
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
    }
    return {**config, **overrides}


NEW_ENV = {
    "MLAYER_OUTPUT_SINK": "stdout://",
    "MLAYER_DEAD_LETTER_OVERFLOW": "s3://b/dead-letters/",
}


def landed(**overrides) -> dict:
    """$LATEST once our configuration landed (new layers, memory, environment)."""
    return live(
        **{
            "MemorySize": 1024,
            "Layers": [{"Arn": DEPS2, "CodeSize": 1}, {"Arn": MODEL1, "CodeSize": 1}],
            "Environment": {"Variables": NEW_ENV},
            "SnapStart": {"ApplyOn": "PublishedVersions", "OptimizationStatus": "Off"},
            **overrides,
        }
    )


UUID = "6f1e8c1a-0b7e-4a57-9d0c-2a1f3e4b5c6d"


def mapping(**overrides) -> dict:
    m = {
        "UUID": UUID,
        "EventSourceArn": STREAM,
        "FunctionArn": f"{ARN}:live",
        "StartingPosition": "LATEST",
        "BatchSize": 100,
        "MaximumBatchingWindowInSeconds": 0,
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "BisectBatchOnFunctionError": True,
        "MaximumRetryAttempts": 3,
        "MaximumRecordAgeInSeconds": 3600,
        "DestinationConfig": {"OnFailure": {"Destination": "arn:aws:s3:::b"}},
    }
    return {**m, **overrides}


def view(config: dict | None) -> FunctionConfig | None:
    """The gateway's view of an answer (the plan and the writes take views)."""
    return None if config is None else FunctionConfig.parse(config)


def plans(s: Settings, config, alias=None, alias_version=None, provisioned=None, mappings=()):
    fplan = plan_function(
        s, view(config), code_sha=CODE_HEX, deps_latest=DEPS2, model_latest=MODEL1
    )
    count = int((provisioned or {}).get("RequestedProvisionedConcurrentExecutions") or 0)
    live_alias = None if alias is None else Alias.parse(alias)
    aplan = plan_alias(s, fplan, view(config), live_alias, view(alias_version), count)
    tplan = plan_trigger(
        s,
        [EventSourceMapping.parse(m) for m in mappings],
        stream_arn=STREAM,
        target=f"{ARN}:live",
        on_failure_arn="arn:aws:s3:::b",
    )
    return fplan, aplan, tplan


def expect_read(stub, answer: dict, **params) -> None:
    stub.add_response("get_function_configuration", answer, {"FunctionName": FN, **params})


def test_an_update_with_snapstart_sends_each_request_in_order_with_its_revision_id(rig):
    """Configuration (with the plan's RevisionId), code, then the handler alone, each with the
    RevisionId of the state our previous write produced; the version is waited on while its
    snapshot is taken; the alias moves with its own RevisionId; then the trigger."""
    stub, gw, relinker = rig
    s = settings(memory=1024, snapstart=True)
    config = live()
    alias = {"Name": "live", "FunctionVersion": "3", "RevisionId": "a1"}
    fplan, aplan, tplan = plans(s, config, alias, live(Version="3"), None, [mapping()])
    assert [c.key for c in fplan.changes] == [
        "Handler",
        "MemorySize",
        "Layers",
        "Environment",
        "SnapStart",
    ]
    stub.add_response(
        "update_function_configuration",
        {"FunctionName": FN, "RevisionId": "r1", "LastUpdateStatus": "InProgress"},
        {
            "FunctionName": FN,
            "RevisionId": "r0",
            "MemorySize": 1024,
            "Layers": [DEPS2, MODEL1],
            "Environment": {"Variables": NEW_ENV},
            "SnapStart": {"ApplyOn": "PublishedVersions"},
        },
    )
    expect_read(stub, landed(RevisionId="r1"))
    stub.add_response(
        "update_function_code",
        {"FunctionName": FN, "RevisionId": "r2"},
        {"FunctionName": FN, "ZipFile": CODE, "Architectures": ["arm64"], "RevisionId": "r1"},
    )
    expect_read(stub, landed(RevisionId="r2", CodeSha256=CODE_B64))
    stub.add_response(
        "update_function_configuration",
        {"FunctionName": FN, "RevisionId": "r3"},
        {"FunctionName": FN, "RevisionId": "r2", "Handler": HANDLER},
    )
    expect_read(stub, landed(RevisionId="r3", CodeSha256=CODE_B64, Handler=HANDLER))
    stub.add_response(
        "publish_version",
        {"FunctionName": FN, "Version": "4", "State": "Pending"},
        {"FunctionName": FN, "Description": ANY, "RevisionId": "r3"},
    )
    expect_read(stub, {"FunctionName": FN, "State": "Pending"}, Qualifier="4")
    expect_read(stub, {"FunctionName": FN, "State": "Active"}, Qualifier="4")
    stub.add_response(  # the alias as the plan read it: no second read before the move
        "update_alias",
        {"Name": "live", "FunctionVersion": "4", "RevisionId": "a2"},
        {"FunctionName": FN, "Name": "live", "FunctionVersion": "4", "RevisionId": "a1"},
    )
    stub.add_response(
        "update_event_source_mapping",
        mapping(MaximumRetryAttempts=5),
        {"UUID": UUID, "MaximumRetryAttempts": 5},
    )
    out = apply_plan(gw, relinker, view(config), fplan, aplan, tplan, code=CODE, code_sha=CODE_HEX)
    assert out == (ARN, f"{ARN}:live", UUID)


def test_a_new_function_with_provisioned_concurrency_and_an_s3_destination(rig):
    stub, gw, relinker = rig
    s = settings(provisioned_concurrency=2)
    fplan, aplan, tplan = plans(s, None)
    assert aplan.publish and aplan.pc_changed and tplan.create
    stub.add_response(
        "create_function",
        {"FunctionName": FN, "FunctionArn": ARN, "State": "Pending"},
        {
            "FunctionName": FN,
            "Runtime": "python3.12",
            "Handler": HANDLER,
            "Role": ROLE,
            "Code": {"ZipFile": CODE},
            "Architectures": ["arm64"],
            "MemorySize": 1024,
            "Timeout": 60,
            "Layers": [DEPS2, MODEL1],
            "Environment": {"Variables": NEW_ENV},
            "Description": ANY,
        },
    )
    expect_read(stub, {"FunctionName": FN, "State": "Pending"})
    expect_read(stub, {"FunctionName": FN, "State": "Active", "RevisionId": "c1"})
    stub.add_response(
        "publish_version",
        {"FunctionName": FN, "Version": "1", "State": "Active"},
        {"FunctionName": FN, "Description": ANY, "RevisionId": "c1"},
    )
    # published Active: no read of the version; no alias in the plan's read: created
    stub.add_response(
        "create_alias",
        {"Name": "live", "FunctionVersion": "1"},
        {"FunctionName": FN, "Name": "live", "FunctionVersion": "1"},
    )
    stub.add_response(
        "put_provisioned_concurrency_config",
        {"RequestedProvisionedConcurrentExecutions": 2, "Status": "IN_PROGRESS"},
        {"FunctionName": FN, "Qualifier": "live", "ProvisionedConcurrentExecutions": 2},
    )
    stub.add_response(
        "create_event_source_mapping",
        mapping(),
        {
            "EventSourceArn": STREAM,
            "FunctionName": f"{ARN}:live",
            "BatchSize": 100,
            "MaximumBatchingWindowInSeconds": 0,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "BisectBatchOnFunctionError": True,
            "MaximumRetryAttempts": 5,
            "MaximumRecordAgeInSeconds": 3600,
            "DestinationConfig": {"OnFailure": {"Destination": "arn:aws:s3:::b"}},
            "StartingPosition": "LATEST",
        },
    )
    out = apply_plan(gw, relinker, None, fplan, aplan, tplan, code=CODE, code_sha=CODE_HEX)
    assert out == (ARN, f"{ARN}:live", UUID)


def test_a_412_on_the_first_write_names_someone_elses_change_and_changes_nothing(rig):
    stub, gw, relinker = rig
    s = settings(memory=1024)
    config = live(Handler=HANDLER, CodeSha256=CODE_B64)
    fplan, aplan, _ = plans(s, config, {"Name": "live", "FunctionVersion": "3"}, config)
    stub.add_client_error(
        "update_function_configuration",
        "PreconditionFailedException",
        "The Revision Id provided does not match the latest Revision Id.",
        412,
        expected_params={
            "FunctionName": FN,
            "RevisionId": "r0",
            "MemorySize": 1024,
            "Layers": [DEPS2, MODEL1],
            "Environment": {"Variables": NEW_ENV},
        },
    )
    with pytest.raises(DeployIncompleteError) as err:
        apply_plan(gw, relinker, view(config), fplan, aplan, None, code=CODE, code_sha=CODE_HEX)
    assert err.value.stage == "nothing" and err.value.code == "PreconditionFailedException"
    assert "someone else changed scorer" in err.value.message
    assert "Nothing was changed" in err.value.message
    assert err.value.hint.startswith("Run `mlayer deploy-function` again (same configuration")


def test_a_412_on_the_code_leaves_the_new_configuration_with_the_old_code(rig):
    stub, gw, relinker = rig
    s = settings(memory=1024)
    config = live(Handler=HANDLER)
    fplan, aplan, _ = plans(s, config, {"Name": "live", "FunctionVersion": "3"}, config)
    stub.add_response("update_function_configuration", {"RevisionId": "r1"}, None)
    expect_read(stub, landed(RevisionId="r1", Handler=HANDLER, SnapStart={"ApplyOn": "None"}))
    stub.add_client_error(
        "update_function_code",
        "PreconditionFailedException",
        "Revision differs",
        412,
        expected_params={
            "FunctionName": FN,
            "ZipFile": CODE,
            "Architectures": ["arm64"],
            "RevisionId": "r1",
        },
    )
    with pytest.raises(DeployIncompleteError) as err:
        apply_plan(gw, relinker, view(config), fplan, aplan, None, code=CODE, code_sha=CODE_HEX)
    assert err.value.stage == "configuration"
    assert "new configuration (MemorySize, Layers, Environment) and its old code" in str(err.value)
    assert "keeps working" in err.value.message


def in_step(**overrides) -> dict:
    """A function whose $LATEST and alias version are as configured (nothing to publish)."""
    return live(
        **{
            "Handler": HANDLER,
            "CodeSha256": CODE_B64,
            "MemorySize": 1024,
            "Layers": [{"Arn": DEPS2, "CodeSize": 1}, {"Arn": MODEL1, "CodeSize": 1}],
            "Environment": {"Variables": NEW_ENV},
            **overrides,
        }
    )


def test_provisioned_concurrency_set_to_zero_is_removed_from_the_alias(rig):
    stub, gw, relinker = rig
    config = in_step()
    provisioned = {"RequestedProvisionedConcurrentExecutions": 3}
    fplan, aplan, _ = plans(
        settings(), config, {"Name": "live", "FunctionVersion": "3"}, config, provisioned
    )
    assert not fplan.changed and not aplan.publish and (aplan.pc_before, aplan.pc_after) == (3, 0)
    stub.add_response(
        "delete_provisioned_concurrency_config", {}, {"FunctionName": FN, "Qualifier": "live"}
    )
    apply_plan(gw, relinker, view(config), fplan, aplan, None, code=CODE, code_sha=CODE_HEX)


def test_a_failed_provisioned_concurrency_update_says_the_alias_is_complete(rig):
    stub, gw, relinker = rig
    config = in_step()
    fplan, aplan, _ = plans(
        settings(provisioned_concurrency=5),
        config,
        {"Name": "live", "FunctionVersion": "3"},
        config,
        {"RequestedProvisionedConcurrentExecutions": 3},
    )
    stub.add_client_error(
        "put_provisioned_concurrency_config",
        "InvalidParameterValueException",
        "Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution",
        400,
        expected_params={
            "FunctionName": FN,
            "Qualifier": "live",
            "ProvisionedConcurrentExecutions": 5,
        },
    )
    with pytest.raises(DeployIncompleteError) as err:
        apply_plan(gw, relinker, view(config), fplan, aplan, None, code=CODE, code_sha=CODE_HEX)
    assert err.value.stage == "alias"
    assert "provisioned concurrency is still 3" in err.value.message


def test_a_snapshot_that_fails_leaves_the_alias_where_it_was(rig):
    stub, gw, relinker = rig
    config = in_step(MemorySize=512)
    fplan, aplan, _ = plans(
        settings(snapstart=True), config, {"Name": "live", "FunctionVersion": "3"}, config
    )
    assert [c.key for c in fplan.changes] == ["MemorySize", "SnapStart"]
    stub.add_response("update_function_configuration", {"RevisionId": "r1"}, None)
    expect_read(stub, in_step(RevisionId="r1", SnapStart={"ApplyOn": "PublishedVersions"}))
    stub.add_response("publish_version", {"Version": "4", "State": "Pending"}, None)
    expect_read(
        stub,
        {
            "State": "Failed",
            "StateReasonCode": "FunctionError",
            "StateReason": "before-snapshot hook raised",
        },
        Qualifier="4",
    )
    with pytest.raises(DeployIncompleteError) as err:
        apply_plan(gw, relinker, view(config), fplan, aplan, None, code=CODE, code_sha=CODE_HEX)
    assert err.value.stage == "latest"
    assert "FunctionError: before-snapshot hook raised" in err.value.message
    assert "alias live still points to version 3" in err.value.message


def test_absent_provisioned_concurrency_reads_as_none(rig):
    stub, gw, _ = rig
    stub.add_client_error(
        "get_provisioned_concurrency_config",
        "ProvisionedConcurrencyConfigNotFoundException",
        "No Provisioned Concurrency Config found for this function",
        404,
        expected_params={"FunctionName": FN, "Qualifier": "live"},
    )
    assert gw.get_provisioned_concurrency(FN, "live") is None
