"""The relink's waiter and conflict paths, which the embedded AWS cannot produce, on botocore's Stubber."""

from __future__ import annotations

import boto3
import pytest
import strict_requests
from botocore.stub import ANY, Stubber

from mlayer.errors import AwsError, ConflictError
from mlayer.gateway import Gateway
from mlayer.publishing.models import RelinkPlan
from mlayer.publishing.relink import Relinker

FN = "fn"
OLD = "arn:aws:lambda:us-east-1:123456789012:layer:m:1"
NEW = "arn:aws:lambda:us-east-1:123456789012:layer:m:2"
DEPS = "arn:aws:lambda:us-east-1:123456789012:layer:deps:1"
PLAN = RelinkPlan(FN, "m", (DEPS, OLD), (DEPS, NEW), OLD, NEW, 1000)


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

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
    strict_requests.install(client.meta.events)  # as AWS checks requests, not as moto does
    stub = Stubber(client)
    t = FakeTime()
    gw = Gateway(region="us-east-1", clients={"lambda": client}, sleep=t.sleep, clock=t.clock)
    with stub:
        yield stub, Relinker(gw, timeout=30, poll=1, backoff=0.5), t
        stub.assert_no_pending_responses()


def config(status="Successful", layers=(DEPS, OLD), rev="r1", **extra):
    out = {
        "FunctionName": FN,
        "RevisionId": rev,
        "State": "Active",
        "LastUpdateStatus": status,
        "Layers": [{"Arn": a, "CodeSize": 1} for a in layers],
    }
    out.update(extra)
    return out


def expect_read(stub, **kw):
    stub.add_response("get_function_configuration", config(**kw), {"FunctionName": FN})


def expect_update(stub, rev="r1", status="InProgress"):
    stub.add_response(
        "update_function_configuration",
        config(status, (DEPS, NEW), rev),
        {"FunctionName": FN, "Layers": [DEPS, NEW], "RevisionId": rev},
    )


def expect_publish(stub, version, rev, new_rev):
    """publish_version of $LATEST at RevisionId ``rev``, answering ``version``/``new_rev``."""
    stub.add_response(
        "publish_version",
        {"FunctionName": FN, "Version": version, "RevisionId": new_rev},
        {"FunctionName": FN, "Description": ANY, "RevisionId": rev},
    )


def test_in_progress_then_successful(rig):
    stub, relinker, t = rig
    expect_read(stub, status="InProgress")
    expect_read(
        stub, rev="r2"
    )  # another update finished meanwhile: its RevisionId is the one to use
    expect_update(stub, rev="r2")
    expect_read(stub, status="InProgress", layers=(DEPS, NEW), rev="r3")
    expect_read(stub, layers=(DEPS, NEW), rev="r3")
    outcome = relinker.apply(PLAN)
    assert outcome.revision_id == "r3" and outcome.attempts == 1 and t.sleeps == [1, 1]


def test_failed_update_reports_the_reason(rig):
    stub, relinker, _ = rig
    expect_read(stub)
    expect_update(stub)
    expect_read(
        stub,
        status="Failed",
        layers=(DEPS, NEW),
        LastUpdateStatusReason="Layer too big",
        LastUpdateStatusReasonCode="InvalidConfiguration",
    )
    with pytest.raises(AwsError, match="InvalidConfiguration: Layer too big") as err:
        relinker.apply(PLAN)
    assert err.value.code == "InvalidConfiguration"


def test_resource_conflict_is_retried_with_backoff(rig):
    stub, relinker, t = rig
    for _ in range(2):
        expect_read(stub)
        stub.add_client_error(
            "update_function_configuration",
            "ResourceConflictException",
            "update in progress",
            409,
            expected_params={"FunctionName": FN, "Layers": [DEPS, NEW], "RevisionId": "r1"},
        )
    expect_read(stub)
    expect_update(stub, status="Successful")
    expect_read(stub, layers=(DEPS, NEW), rev="r4")
    outcome = relinker.apply(PLAN)
    assert outcome.attempts == 3 and t.sleeps == [0.5, 1.0]


def test_resource_conflict_gives_up_eventually(rig):
    stub, relinker, _ = rig
    relinker.max_conflicts = 1
    for _ in range(2):
        expect_read(stub)
        stub.add_client_error(
            "update_function_configuration", "ResourceConflictException", "busy", 409
        )
    with pytest.raises(AwsError) as err:
        relinker.apply(PLAN)
    assert err.value.code == "ResourceConflictException"


def test_precondition_failed_aborts_without_retry(rig):
    stub, relinker, t = rig
    expect_read(stub)
    stub.add_client_error(
        "update_function_configuration",
        "PreconditionFailedException",
        "The Revision Id provided does not match the latest Revision Id.",
        412,
    )
    with pytest.raises(ConflictError, match="changed since mlayer read it"):
        relinker.apply(PLAN)
    assert t.sleeps == []


def test_layers_changed_since_the_plan_aborts_before_updating(rig):
    stub, relinker, _ = rig
    expect_read(stub, layers=(DEPS,))
    with pytest.raises(ConflictError, match="changed since mlayer planned"):
        relinker.apply(PLAN)


def test_waiting_too_long_times_out(rig):
    stub, relinker, _ = rig
    relinker.timeout = 2
    for _ in range(4):
        expect_read(stub, status="InProgress")
    with pytest.raises(AwsError, match="still being updated"):
        relinker.apply(PLAN)


def test_unchanged_plan_makes_no_call(rig):
    _, relinker, _ = rig
    same = RelinkPlan(FN, "m", (DEPS, OLD), (DEPS, OLD), OLD, OLD, 1)
    assert relinker.apply(same).attempts == 0


ALIAS = {
    "AliasArn": f"arn:aws:lambda:us-east-1:123456789012:function:{FN}:live",
    "Name": "live",
    "FunctionVersion": "6",
    "RevisionId": "a1",
}


def expect_alias(stub, alias=ALIAS):
    if alias is None:
        stub.add_client_error(
            "get_alias",
            "ResourceNotFoundException",
            "no alias",
            404,
            expected_params={"FunctionName": FN, "Name": "live"},
        )
    else:
        stub.add_response("get_alias", alias, {"FunctionName": FN, "Name": "live"})


def expect_versions(stub, *versions):
    """list_versions_by_function: $LATEST and the published ``versions`` (configurations)."""
    stub.add_response(
        "list_versions_by_function",
        {"Versions": [config(Version="$LATEST"), *versions]},
        {"FunctionName": FN},
    )


def expect_update_alias(stub, version, rev="a1"):
    stub.add_response(
        "update_alias",
        {**ALIAS, "FunctionVersion": version, "RevisionId": "a2"},
        {"FunctionName": FN, "Name": "live", "FunctionVersion": version, "RevisionId": rev},
    )


def test_alias_moves_with_revision_ids(rig):
    stub, relinker, _ = rig
    expect_read(stub)
    expect_update(stub, status="Successful")
    expect_read(stub, layers=(DEPS, NEW), rev="r5")
    expect_alias(stub)
    expect_versions(stub, config(Version="6"))  # carries OLD: not a match
    expect_publish(stub, "7", rev="r5", new_rev="r6")
    expect_update_alias(stub, "7")
    outcome = relinker.apply(PLAN, alias="live")
    assert outcome.function_version == "7" and outcome.alias == "live"
    assert not outcome.reused_version


def test_a_layer_version_this_command_published_is_not_looked_for_among_the_versions(rig):
    """publish-model's own new layer version (``fresh``): no function version carries it yet,
    so the version is published without listing them (the Stubber fails on any other call)."""
    stub, relinker, _ = rig
    expect_read(stub)
    expect_update(stub, status="Successful")
    expect_read(stub, layers=(DEPS, NEW), rev="r5")
    expect_alias(stub)
    expect_publish(stub, "7", rev="r5", new_rev="r6")
    expect_update_alias(stub, "7")
    outcome = relinker.apply(PLAN, alias="live", fresh=True)
    assert outcome.function_version == "7" and not outcome.reused_version
    stub.assert_no_pending_responses()


def test_unchanged_layers_with_a_lagging_alias_move_only_the_alias(rig):
    """rollback to the version $LATEST already has, with --alias: no update, one version, the alias made."""
    stub, relinker, _ = rig
    expect_read(stub, rev="r7")
    expect_alias(stub, None)
    expect_versions(stub)
    expect_publish(stub, "8", rev="r7", new_rev="r8")
    stub.add_response(
        "create_alias",
        {"Name": "live", "FunctionVersion": "8", "RevisionId": "a1"},
        {"FunctionName": FN, "Name": "live", "FunctionVersion": "8"},
    )
    same = RelinkPlan(FN, "m", (DEPS, OLD), (DEPS, OLD), OLD, OLD, 1)
    outcome = relinker.apply(same, alias="live")
    assert outcome.attempts == 0 and outcome.function_version == "8"


def test_alias_moved_by_someone_else_aborts(rig):
    stub, relinker, _ = rig
    expect_read(stub, rev="r7")
    expect_alias(stub)
    expect_versions(stub)
    expect_publish(stub, "8", rev="r7", new_rev="r8")
    stub.add_client_error(
        "update_alias",
        "PreconditionFailedException",
        "The Revision Id provided does not match the latest Revision Id.",
        412,
        expected_params={
            "FunctionName": FN,
            "Name": "live",
            "FunctionVersion": "8",
            "RevisionId": "a1",
        },
    )
    same = RelinkPlan(FN, "m", (DEPS, OLD), (DEPS, OLD), OLD, OLD, 1)
    with pytest.raises(ConflictError) as err:
        relinker.apply(same, alias="live")
    assert "apart" not in err.value.message  # nothing was relinked: nothing is apart


def test_rollback_moves_the_alias_to_the_version_that_carried_the_model(rig):
    """Issue 16: an existing version with $LATEST's code, layers and settings takes the alias at
    once: no PublishVersion (no new SnapStart snapshot)."""
    stub, relinker, _ = rig
    expect_read(stub)
    expect_update(stub, status="Successful")
    expect_read(stub, layers=(DEPS, NEW), rev="r5", Version="$LATEST")
    expect_alias(stub)
    expect_versions(
        stub,
        config(layers=(DEPS, NEW), Version="3", rev="v3"),
        config(layers=(DEPS, OLD), Version="6", rev="v6"),
        config(layers=(DEPS, NEW), Version="4", rev="v4"),
        config(layers=(DEPS, NEW), Version="5", MemorySize=2048),  # other settings: no
    )
    expect_update_alias(stub, "4")
    outcome = relinker.apply(PLAN, alias="live")
    assert outcome.function_version == "4" and outcome.reused_version


def test_alias_already_on_the_matching_version_is_not_moved(rig):
    stub, relinker, _ = rig
    expect_read(stub)
    expect_alias(stub, {**ALIAS, "FunctionVersion": "4"})
    expect_versions(stub, config(Version="4"))
    same = RelinkPlan(FN, "m", (DEPS, OLD), (DEPS, OLD), OLD, OLD, 1)
    outcome = relinker.apply(same, alias="live")
    assert outcome.function_version == "4" and outcome.reused_version


def test_a_snapstart_version_is_waited_for_before_the_alias_moves(rig):
    stub, relinker, t = rig
    expect_read(stub)
    expect_update(stub, status="Successful")
    expect_read(stub, layers=(DEPS, NEW), rev="r5")
    expect_alias(stub)
    expect_versions(stub)
    stub.add_response(
        "publish_version",
        {"FunctionName": FN, "Version": "7", "RevisionId": "r6", "State": "Pending"},
        {"FunctionName": FN, "Description": ANY, "RevisionId": "r5"},
    )
    for state in ("Pending", "Active"):
        stub.add_response(
            "get_function_configuration",
            config(layers=(DEPS, NEW), Version="7", State=state),
            {"FunctionName": FN, "Qualifier": "7"},
        )
    expect_update_alias(stub, "7")
    assert relinker.apply(PLAN, alias="live").function_version == "7" and t.sleeps == [1]


@pytest.mark.parametrize(
    "failing", ["list_versions_by_function", "publish_version", "update_alias"]
)
def test_an_alias_move_failing_after_the_relink_names_the_state_and_the_command(rig, failing):
    stub, relinker, _ = rig
    expect_read(stub)
    expect_update(stub, status="Successful")
    expect_read(stub, layers=(DEPS, NEW), rev="r5")
    expect_alias(stub)
    steps = ["list_versions_by_function", "publish_version", "update_alias"]
    for step in steps[: steps.index(failing)]:
        if step == "list_versions_by_function":
            expect_versions(stub)
        else:
            expect_publish(stub, "7", rev="r5", new_rev="r6")
    stub.add_client_error(failing, "ServiceException", "boom", 500)
    with pytest.raises(AwsError) as err:
        relinker.apply(PLAN, alias="live")
    message = err.value.message
    assert "$LATEST carries model layer version 2" in message
    assert "alias live still carries model layer version 1" in message and "apart" in message
    assert "mlayer rollback --version 2 --alias live --function fn --layer-name m" in err.value.hint
    assert err.value.code == "ServiceException"


def test_a_read_failing_after_the_update_says_the_state_is_to_be_read(rig):
    stub, relinker, _ = rig
    expect_read(stub)
    expect_update(stub)
    stub.add_client_error("get_function_configuration", "ServiceException", "boom", 500)
    with pytest.raises(AwsError) as err:
        relinker.apply(PLAN, alias="live")
    assert "could not read whether it landed; alias live was not moved" in err.value.message
    assert "mlayer status" in err.value.hint and "again" in err.value.hint


def test_the_model_layer_is_published_as_aws_expects(rig):
    """publish-model's PublishLayerVersion: the label and short sha in a Description of at most
    256 characters (a long --label is cut, the sha kept), the zip from the bucket."""
    from mlayer.model import manifest as mf

    stub, relinker, _ = rig
    description = mf.layer_description("x" * 300, "ab" * 32)
    arn = "arn:aws:lambda:us-east-1:123456789012:layer:m:3"
    stub.add_response(
        "publish_layer_version",
        {"LayerVersionArn": arn, "Version": 3, "Description": description},
        {
            "LayerName": "m",
            "Description": "x" * 239 + " sha:abababababab",
            "Content": {"S3Bucket": "bkt", "S3Key": "layers/abc.zip"},
        },
    )
    made = relinker.gw.new_layer_version("m", description, s3=("bkt", "layers/abc.zip"))
    assert (made.arn, made.version) == (arn, 3) and len(description) == 256
