"""What the embedded AWS cannot show, on botocore's Stubber (requests validated against the
service model, and strictly as AWS checks them): the alias writes carry the RevisionId read,
a PreconditionFailed stops the rollout unchanged, GetMetricData's query shape and p99."""

from __future__ import annotations

import boto3
import pytest
import strict_requests
from botocore.stub import ANY, Stubber

from mlayer.gateway import Gateway
from mlayer.rollout.driver import Rollouts, RolloutStopped
from mlayer.rollout.gates import Thresholds
from mlayer.rollout.health import HealthReader
from mlayer.rollout.state import RolloutState

FN, ALIAS = "fn", "live"


def _client(service: str):
    client = boto3.client(
        service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    strict_requests.install(client.meta.events)
    return client


@pytest.fixture
def rig():
    lam, s3, cw = _client("lambda"), _client("s3"), _client("cloudwatch")
    stubs = [Stubber(c) for c in (lam, s3, cw)]
    gw = Gateway(
        region="us-east-1",
        clients={"lambda": lam, "s3": s3, "cloudwatch": cw},
        account="123456789012",
    )
    for s in stubs:
        s.activate()
    yield gw, *stubs
    for s in stubs:
        s.assert_no_pending_responses()
        s.deactivate()


def _alias(version="1", weights=None, rev="rev-1"):
    doc = {
        "AliasArn": f"arn:aws:lambda:us-east-1:123456789012:function:{FN}:{ALIAS}",
        "Name": ALIAS,
        "FunctionVersion": version,
        "RevisionId": rev,
    }
    if weights is not None:
        doc["RoutingConfig"] = {"AdditionalVersionWeights": weights}
    return doc


def _state() -> RolloutState:
    return RolloutState(
        function=FN,
        alias=ALIAS,
        strategy="canary",
        old_version="1",
        new_version="2",
        weights=(0.1,),
        interval_s=1.0,
        thresholds=Thresholds(),
        started_at=0.0,
        updated_at=0.0,
    )


def test_every_alias_write_carries_the_revision_id_read_and_a_conflict_stops_it(rig):
    gw, lam, s3, cw = rig
    lam.add_response(
        "get_alias", _alias("1", {"2": 0.1}, rev="rev-7"), {"FunctionName": FN, "Name": ALIAS}
    )
    lam.add_client_error(
        "update_alias",
        "PreconditionFailedException",
        "The RevisionId provided does not match",
        412,
        expected_params={
            "FunctionName": FN,
            "Name": ALIAS,
            "FunctionVersion": "1",
            "RoutingConfig": {"AdditionalVersionWeights": {}},
            "RevisionId": "rev-7",
        },
    )
    # the refused write is settled by a read: someone else's split, not the one asked for
    lam.add_response(
        "get_alias", _alias("1", {"2": 0.5}, rev="rev-8"), {"FunctionName": FN, "Name": ALIAS}
    )
    s3.add_response(
        "put_object",
        {},
        {
            "Bucket": "b",
            "Key": "rollouts/fn/live.json",
            "Body": ANY,
            "ContentType": ANY,
            "ExpectedBucketOwner": ANY,
            "ServerSideEncryption": ANY,
        },
    )
    rollouts = Rollouts(gw, "b", clock=lambda: 5.0)
    with pytest.raises(RolloutStopped) as err:
        rollouts._write(_state(), rollouts._expect(_state()), "1", {})
    assert "changed by someone else" in err.value.message
    assert "AWS refused the write" in err.value.message and "2 at 50%" in err.value.message


def test_the_first_step_keeps_the_primary_and_adds_the_weight_with_the_revision_id(rig):
    gw, lam, s3, cw = rig
    from mlayer.gateway.routing import read_routing

    lam.add_response("get_alias", _alias("4", rev="rev-2"), {"FunctionName": FN, "Name": ALIAS})
    lam.add_response(
        "update_alias",
        _alias("4", {"5": 0.1}, rev="rev-3"),
        {
            "FunctionName": FN,
            "Name": ALIAS,
            "FunctionVersion": "4",
            "RoutingConfig": {"AdditionalVersionWeights": {"5": 0.1}},
            "RevisionId": "rev-2",
        },
    )
    s3.add_response(
        "put_object",
        {},
        {
            "Bucket": "b",
            "Key": "rollouts/fn/live.json",
            "Body": ANY,
            "ContentType": ANY,
            "ExpectedBucketOwner": ANY,
            "ServerSideEncryption": ANY,
        },
    )
    rollouts = Rollouts(gw, "b", clock=lambda: 5.0)
    state = rollouts.start(
        read_routing(gw, FN, ALIAS),
        "5",
        strategy="canary",
        percent=10,
        interval_s=60,
        thresholds=Thresholds(),
    )
    assert (state.old_version, state.new_version, state.weight) == ("4", "5", 0.1)


def test_get_metric_data_asks_for_p99_with_lambdas_alias_dimensions(rig):
    gw, lam, s3, cw = rig
    dims = [
        {"Name": "ExecutedVersion", "Value": "2"},
        {"Name": "FunctionName", "Value": FN},
        {"Name": "Resource", "Value": f"{FN}:{ALIAS}"},
    ]

    def answer(request_ids, values):
        return {
            "MetricDataResults": [
                {
                    "Id": i,
                    "Label": i,
                    "Timestamps": [],
                    "Values": values.get(i, []),
                    "StatusCode": "Complete",
                }
                for i in request_ids
            ]
        }

    ids = ["v0inv", "v0err", "v0dur", "v0pred", "v0dead", "v0c0", "v0c1"]
    cw.add_response(
        "get_metric_data",
        answer(
            ids,
            {
                "v0inv": [10.0],
                "v0dur": [41.0, 55.0],
                "v0pred": [100.0],
                "v0c0": [60.0],
                "v0c1": [40.0],
            },
        ),
        {
            "MetricDataQueries": ANY,
            "StartTime": ANY,
            "EndTime": ANY,
            "ScanBy": "TimestampAscending",
        },
    )
    reader = HealthReader(gw, FN, ALIAS, classes=("spam", "ham"))
    health = reader.read(["2"], 1_000_000.0, 1_000_360.0)["2"]
    assert (health.invocations, health.records, health.p99_ms) == (10.0, 100.0, 55.0)
    assert health.predictions == {"spam": 60.0, "ham": 40.0} and health.latency_stat == "p99"
    from mlayer.gateway.metrics import _query
    from mlayer.rollout.health import _queries

    shaped = [_query(q) for q in _queries(FN, ALIAS, "2", "v0", ("spam", "ham"), "p99")]
    assert shaped[2]["MetricStat"]["Stat"] == "p99"
    assert shaped[2]["MetricStat"]["Metric"] == {
        "Namespace": "AWS/Lambda",
        "MetricName": "Duration",
        "Dimensions": dims,
    }


PUT_STATE = {
    "Bucket": "b",
    "Key": "rollouts/fn/live.json",
    "Body": ANY,
    "ContentType": ANY,
    "ExpectedBucketOwner": ANY,
    "ServerSideEncryption": ANY,
}
FIRST_STEP = {
    "FunctionName": FN,
    "Name": ALIAS,
    "FunctionVersion": "4",
    "RoutingConfig": {"AdditionalVersionWeights": {"5": 0.1}},
    "RevisionId": "rev-2",
}


def _start_canary(gw):
    from mlayer.gateway.routing import read_routing

    rollouts = Rollouts(gw, "b", clock=lambda: 5.0)
    return rollouts.start(
        read_routing(gw, FN, ALIAS),
        "5",
        strategy="canary",
        percent=10,
        interval_s=60,
        thresholds=Thresholds(),
    )


def test_provisioned_concurrency_on_the_alias_refuses_the_first_step_named_and_writes_nothing(
    rig,
):
    """Set out of band (mlayer's own [function] provisioned_concurrency is refused before
    publishing): AWS refuses the weights, the rollout names it, no state file is written."""
    from mlayer.rollout.driver import ProvisionedConcurrencyRefused

    gw, lam, s3, cw = rig
    lam.add_response("get_alias", _alias("4", rev="rev-2"), {"FunctionName": FN, "Name": ALIAS})
    lam.add_client_error(
        "update_alias",
        "InvalidParameterValueException",
        "Alias with weights can not be used with Provisioned Concurrency",
        400,
        expected_params=FIRST_STEP,
    )
    with pytest.raises(ProvisionedConcurrencyRefused) as err:
        _start_canary(gw)
    assert err.value.exit_code == 2
    assert "alias live of fn: it has provisioned concurrency" in err.value.message
    assert "all traffic to version 4" in err.value.message
    assert "delete-provisioned-concurrency-config" in err.value.hint
    # no put_object stubbed: a state-file write would fail the Stubber


def test_a_retry_refused_because_the_first_try_landed_is_settled_by_a_read(rig):
    """botocore retries a write whose answer was lost; on AWS the RevisionId moved with the
    first try, so the retry gets PreconditionFailed: the alias holding the split asked for
    means the write landed."""
    gw, lam, s3, cw = rig
    lam.add_response("get_alias", _alias("4", rev="rev-2"), {"FunctionName": FN, "Name": ALIAS})
    lam.add_client_error(
        "update_alias",
        "PreconditionFailedException",
        "The RevisionId provided does not match",
        412,
        expected_params=FIRST_STEP,
    )
    lam.add_response(
        "get_alias", _alias("4", {"5": 0.1}, rev="rev-3"), {"FunctionName": FN, "Name": ALIAS}
    )
    s3.add_response("put_object", {}, PUT_STATE)
    state = _start_canary(gw)
    assert (state.status, state.weight, state.new_version) == ("running", 0.1, "5")


# --- provisioned concurrency on the alias: refused before anything is published ---


def _pc(count: int) -> dict:
    return {
        "RequestedProvisionedConcurrentExecutions": count,
        "AllocatedProvisionedConcurrentExecutions": count,
        "Status": "READY",
    }


def test_the_alias_s_provisioned_concurrency_is_read_with_its_qualifier(rig):
    from mlayer.errors import AwsError
    from mlayer.gateway.concurrency import alias_provisioned_concurrency

    gw, lam, s3, cw = rig
    params = {"FunctionName": FN, "Qualifier": ALIAS}
    lam.add_response("get_provisioned_concurrency_config", _pc(3), params)
    lam.add_client_error(
        "get_provisioned_concurrency_config",
        "ProvisionedConcurrencyConfigNotFoundException",
        "No Provisioned Concurrency Config found for this function",
        404,
        expected_params=params,
    )
    lam.add_client_error(
        "get_provisioned_concurrency_config", "AccessDeniedException", "no", 403, params
    )
    assert alias_provisioned_concurrency(gw, FN, ALIAS) == 3
    assert alias_provisioned_concurrency(gw, FN, ALIAS) == 0
    with pytest.raises(AwsError):  # never read as "none": the refusal would be skipped blind
        alias_provisioned_concurrency(gw, FN, ALIAS)


def test_a_rollout_onto_an_alias_with_provisioned_concurrency_publishes_nothing(rig):
    from mlayer.config import Settings
    from mlayer.config.loading import build
    from mlayer.errors import UsageError
    from mlayer.request_types import PublishRequest
    from mlayer.rollout.publishing import publish_with_rollout

    gw, lam, s3, cw = rig
    settings = build(
        Settings(), {"function": {"name": FN}, "model": {"alias": ALIAS}}, origin="test"
    ).with_bucket("b")
    s3.add_client_error("get_object", "NoSuchKey", "absent", 404)  # no rollout recorded
    lam.add_response("get_alias", _alias("4", rev="rev-2"), {"FunctionName": FN, "Name": ALIAS})
    lam.add_response(
        "get_provisioned_concurrency_config", _pc(2), {"FunctionName": FN, "Qualifier": ALIAS}
    )
    published = []
    with pytest.raises(UsageError) as err:
        publish_with_rollout(
            gw,
            settings,
            PublishRequest(model="m.joblib", rollout="canary"),
            publish=lambda *a, **k: published.append(a),
            confirm=lambda _q: None,
        )
    assert err.value.exit_code == 2 and published == []
    assert "fn:live has 2 provisioned concurrent executions" in err.value.message
    assert "Provisioned Concurrency" in err.value.message
    assert "nothing was published" in err.value.message
    assert "--qualifier live" in err.value.hint
