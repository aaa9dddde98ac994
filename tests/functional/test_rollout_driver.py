"""A rollout driven on the embedded AWS: the alias's split set and moved with its RevisionId,
each step judged from what CloudWatch holds (GetMetricData), the state file in the bucket.

Traffic (rollout_support) publishes, during each fake sleep, the metrics Lambda and the
function's EMF lines would give for the records the alias's weights send to each version.
"""

from __future__ import annotations

import pytest
from publish_support import BUCKET, FUNCTION
from rollout_support import ALIAS, CLASSES, Behaviour, Traffic, two_versions

from mlayer.gateway.routing import read_routing
from mlayer.rollout.driver import RolloutFailed, Rollouts, RolloutStopped
from mlayer.rollout.gates import Thresholds
from mlayer.rollout.health import HealthReader

GOOD = Behaviour()
BAD = {
    "errors": Behaviour(error_p=1.0),
    "dead_letters": Behaviour(dead_p=1 / 3),
    "latency": Behaviour(ms=120.0),
    "prediction_shift": Behaviour(shares=(1.0, 0.0)),
}


def _rig(gw, new: Behaviour, per_second: float = 2.0):
    v1, v2 = two_versions(gw)
    traffic = Traffic(gw, {v1: GOOD, v2: new}, per_second=per_second)
    rollouts = Rollouts(gw, BUCKET, clock=traffic.clock, sleep=traffic.sleep)
    current = read_routing(gw, FUNCTION, ALIAS)
    return v1, v2, traffic, rollouts, current


def _start(rollouts, current, v2, strategy="canary", percent=20, thresholds=None):
    return rollouts.start(
        current,
        v2,
        strategy=strategy,
        percent=percent,
        interval_s=300,
        thresholds=thresholds or Thresholds(min_records=50),
        models=("v1", "v2"),
    )


def test_a_good_model_is_promoted_step_by_step(gw):
    v1, v2, traffic, rollouts, current = _rig(gw, GOOD)
    state = _start(rollouts, current, v2, strategy="linear", percent=40)
    assert read_routing(gw, FUNCTION, ALIAS).weights == {v2: 0.4}
    done = rollouts.drive(state, HealthReader(gw, FUNCTION, ALIAS, CLASSES))
    assert done.status == "promoted"
    routing = read_routing(gw, FUNCTION, ALIAS)
    assert (routing.version, dict(routing.weights)) == (v2, {})
    assert [h.weight for h in done.history] == [0.4, 0.8]
    assert all(h.outcome == "pass" for h in done.history)
    assert traffic.sleeps == [360, 360]  # interval + one metric period per step
    saved = rollouts.load(FUNCTION, ALIAS)
    assert saved == done
    assert saved.history[0].new.records >= 50 and saved.history[0].old.records >= 50


@pytest.mark.parametrize("gate", sorted(BAD))
def test_each_bad_model_is_rolled_back_at_the_first_step_with_its_gate_named(gw, gate):
    v1, v2, traffic, rollouts, current = _rig(gw, BAD[gate])
    state = _start(rollouts, current, v2)
    with pytest.raises(RolloutFailed) as err:
        rollouts.drive(state, HealthReader(gw, FUNCTION, ALIAS, CLASSES))
    assert f"gate {gate} failed" in err.value.message
    assert "threshold" in err.value.message and err.value.exit_code == 1
    routing = read_routing(gw, FUNCTION, ALIAS)
    assert (routing.version, dict(routing.weights)) == (v1, {})
    saved = rollouts.load(FUNCTION, ALIAS)
    assert saved.status == "rolled_back" and len(saved.history) == 1
    assert saved.history[0].readings and gate in saved.reason


def test_a_step_without_enough_traffic_is_extended_then_rolled_back(gw):
    v1, v2, traffic, rollouts, current = _rig(gw, GOOD, per_second=0.2)
    state = _start(rollouts, current, v2, thresholds=Thresholds(min_records=500, max_extensions=2))
    with pytest.raises(RolloutFailed) as err:
        rollouts.drive(state, HealthReader(gw, FUNCTION, ALIAS, CLASSES))
    assert "not enough traffic" in err.value.message
    saved = rollouts.load(FUNCTION, ALIAS)
    assert [h.outcome for h in saved.history] == ["wait", "wait", "fail"]
    assert read_routing(gw, FUNCTION, ALIAS).weights == {}


def test_a_change_by_someone_else_stops_the_rollout_and_is_left_as_it_is(gw):
    v1, v2, traffic, rollouts, current = _rig(gw, GOOD)
    state = _start(rollouts, current, v2)
    traffic.on_sleep = lambda: gw.update_alias(FUNCTION, ALIAS, v1)  # weights kept, primary same
    gw.call(
        "lambda",
        "update_alias",
        "x",
        FunctionName=FUNCTION,
        Name=ALIAS,
        FunctionVersion=v1,
        RoutingConfig={"AdditionalVersionWeights": {v2: 0.5}},
    )
    with pytest.raises(RolloutStopped) as err:
        rollouts.drive(state, HealthReader(gw, FUNCTION, ALIAS, CLASSES))
    assert "changed by someone else" in err.value.message and "50%" in err.value.message
    assert read_routing(gw, FUNCTION, ALIAS).weights == {v2: 0.5}  # not overwritten
    assert rollouts.load(FUNCTION, ALIAS).status == "stopped"


def test_an_interrupted_rollout_resumes_from_the_state_file(gw):
    v1, v2, traffic, rollouts, current = _rig(gw, GOOD)
    _start(rollouts, current, v2, strategy="linear", percent=40)
    # the CLI died: a new process reads the state file and drives it on
    again = Rollouts(gw, BUCKET, clock=traffic.clock, sleep=traffic.sleep)
    state = again.load(FUNCTION, ALIAS)
    assert state.active and state.weight == 0.4
    assert again.drive(state, HealthReader(gw, FUNCTION, ALIAS, CLASSES)).status == "promoted"


def test_a_write_that_landed_before_the_cli_died_is_picked_up(gw):
    v1, v2, traffic, rollouts, current = _rig(gw, GOOD)
    state = _start(rollouts, current, v2, strategy="linear", percent=40)
    gw.call(
        "lambda",
        "update_alias",
        "x",
        FunctionName=FUNCTION,
        Name=ALIAS,
        FunctionVersion=v1,
        RoutingConfig={"AdditionalVersionWeights": {v2: 0.8}},
    )  # step 2 set, not saved
    resumed = rollouts.reconcile(state)
    assert (resumed.step, resumed.weight) == (1, 0.8)


def test_abort_puts_all_traffic_back_on_the_old_version(gw):
    v1, v2, traffic, rollouts, current = _rig(gw, GOOD)
    state = _start(rollouts, current, v2)
    done = rollouts.abort(state, "aborted by mlayer rollout abort")
    assert done.status == "aborted" and done.weight == 0.0
    routing = read_routing(gw, FUNCTION, ALIAS)
    assert (routing.version, dict(routing.weights)) == (v1, {})
    assert rollouts.load(FUNCTION, ALIAS).reason == "aborted by mlayer rollout abort"


# --- an alias write whose answer is lost (fault injection on botocore's events) ---


def _lose_update_alias_answers(gw, fault, times=1, event="after-call"):
    """The next ``times`` UpdateAlias calls raise ``fault()``: after-call, once the write has
    reached the embedded AWS (its answer lost); before-send, before it leaves (never written;
    botocore's retries meet it each time)."""
    left = {"n": times, "attempts": 0}

    def hook(**_kwargs):
        if left["n"] > 0:
            left["attempts"] += 1
            if event == "after-call":
                left["n"] -= 1
            raise fault()

    gw.client("lambda").meta.events.register(f"{event}.lambda.UpdateAlias", hook)
    return left


def _timeout():
    from botocore.exceptions import ReadTimeoutError

    return ReadTimeoutError(endpoint_url="http://embedded/aws", error="read timed out")


def _precondition_failed():
    """What AWS answers botocore's retry of a write that had landed (the RevisionId moved)."""
    from botocore.exceptions import ClientError

    return ClientError(
        {"Error": {"Code": "PreconditionFailedException", "Message": "RevisionId mismatch"}},
        "UpdateAlias",
    )


@pytest.mark.parametrize("fault", [_timeout, _precondition_failed], ids=["timeout", "retry-412"])
def test_a_lost_answer_to_a_write_that_landed_is_found_on_the_alias_and_the_rollout_goes_on(
    gw, fault
):
    v1, v2, traffic, rollouts, current = _rig(gw, GOOD)
    lines: list[str] = []
    rollouts.progress = lines.append
    state = _start(rollouts, current, v2, strategy="linear", percent=40)
    _lose_update_alias_answers(gw, fault)  # the 40% -> 80% write
    done = rollouts.drive(state, HealthReader(gw, FUNCTION, ALIAS, CLASSES))
    assert done.status == "promoted" and [h.weight for h in done.history] == [0.4, 0.8]
    assert any("answer was lost, but it landed" in line for line in lines)
    routing = read_routing(gw, FUNCTION, ALIAS)
    assert (routing.version, dict(routing.weights)) == (v2, {})


def test_a_write_that_never_landed_stops_the_rollout_where_it_was_for_resume(gw):
    from botocore.exceptions import ConnectionClosedError

    from mlayer.rollout.driver import WriteUnsettled

    v1, v2, traffic, rollouts, current = _rig(gw, GOOD)
    state = _start(rollouts, current, v2, strategy="linear", percent=40)
    fault = _lose_update_alias_answers(
        gw, lambda: ConnectionClosedError(endpoint_url="http://embedded/aws"), event="before-send"
    )
    with pytest.raises(WriteUnsettled) as err:
        rollouts.drive(state, HealthReader(gw, FUNCTION, ALIAS, CLASSES))
    assert fault["attempts"] >= 2  # botocore retried it, then gave up
    assert "nothing changed" in err.value.message and "rollout resume" in err.value.hint
    assert err.value.exit_code == 1
    saved = rollouts.load(FUNCTION, ALIAS)
    assert (saved.status, saved.step, saved.weight) == ("running", 0, 0.4)  # as it was
    assert read_routing(gw, FUNCTION, ALIAS).weights == {v2: 0.4}
    fault["n"] = 0  # the network is back: resume drives it on
    assert rollouts.drive(saved, HealthReader(gw, FUNCTION, ALIAS, CLASSES)).status == "promoted"


def test_a_first_step_that_never_landed_starts_nothing(gw):
    from botocore.exceptions import ConnectionClosedError

    from mlayer.rollout.driver import WriteUnsettled

    v1, v2, traffic, rollouts, current = _rig(gw, GOOD)
    _lose_update_alias_answers(
        gw, lambda: ConnectionClosedError(endpoint_url="http://embedded/aws"), event="before-send"
    )
    with pytest.raises(WriteUnsettled) as err:
        _start(rollouts, current, v2)
    assert "did not start" in err.value.message and "Publish again" in err.value.hint
    assert rollouts.load(FUNCTION, ALIAS) is None
    routing = read_routing(gw, FUNCTION, ALIAS)
    assert (routing.version, dict(routing.weights)) == (v1, {})
