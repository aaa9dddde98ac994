"""A regressor's rollout judged by its binned prediction shift, on the embedded AWS.

The real function counts a regressor's predictions into fixed value bins and prints them as
EMF lines; the emulation's extraction (metrics_out) turns them into CloudWatch metrics. The
driver lists the bins (ListMetrics) and reads them (GetMetricData) per version, and the gate
merges both versions' fine bins into the old version's value groups before taking PSI. A
regressor that suddenly predicts a constant is rolled back at the first step; the same model
retrained with the same seed (identical predictions, other bytes) is promoted.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import numpy as np
import pytest
from function_support import HandlerProcess, kinesis_event, write_model_layer
from publish_support import BUCKET, FUNCTION
from rollout_support import ALIAS, Behaviour, Traffic, regressor_steps, two_versions

from mlayer.gateway.routing import read_routing
from mlayer.local.metrics_out import emf_metrics
from mlayer.rollout.driver import RolloutFailed, Rollouts
from mlayer.rollout.gates import Thresholds
from mlayer.rollout.health import HealthReader

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "function"))
from mlayer_function.prediction_counts import bin_key  # noqa: E402

INPUTS = np.random.default_rng(42).normal(size=(4000, 3))


def _behaviour(steps) -> Behaviour:
    """A version serving ``steps``: each record one of the model's real predictions."""
    pool = steps[-1].predict(steps[0].transform(INPUTS)).tolist()
    return Behaviour(values=lambda rng: pool[rng.randrange(len(pool))], bin_key=bin_key)


def _rig(gw, new_steps):
    v1, v2 = two_versions(gw)
    live = _behaviour(regressor_steps("ridge"))
    traffic = Traffic(gw, {v1: live, v2: _behaviour(new_steps)}, rng=random.Random(8))
    rollouts = Rollouts(gw, BUCKET, clock=traffic.clock, sleep=traffic.sleep)
    return v1, v2, rollouts, read_routing(gw, FUNCTION, ALIAS)


def _start(rollouts, current, v2, strategy="canary"):
    return rollouts.start(
        current,
        v2,
        strategy=strategy,
        percent=20,
        interval_s=300,
        thresholds=Thresholds(min_records=50),
    )


def test_a_regressor_predicting_a_constant_is_rolled_back_at_the_first_step(gw):
    v1, v2, rollouts, current = _rig(gw, regressor_steps("constant"))
    state = _start(rollouts, current, v2)
    with pytest.raises(RolloutFailed) as err:
        rollouts.drive(state, HealthReader(gw, FUNCTION, ALIAS, ()))  # no classes: bins
    assert "gate prediction_shift failed" in err.value.message
    assert "value groups" in err.value.message
    routing = read_routing(gw, FUNCTION, ALIAS)
    assert (routing.version, dict(routing.weights)) == (v1, {})
    saved = rollouts.load(FUNCTION, ALIAS)
    assert saved.status == "rolled_back" and len(saved.history) == 1
    (step,) = saved.history
    assert len(step.new.bins) == 1 and sum(step.new.bins.values()) == step.new.records
    assert len(step.old.bins) > 5 and sum(step.old.bins.values()) == step.old.records


@pytest.mark.parametrize("strategy", ["canary", "linear"])
def test_the_same_regressor_retrained_with_the_same_seed_is_promoted(gw, strategy):
    again = regressor_steps("ridge")  # another fit, the same predictions
    v1, v2, rollouts, current = _rig(gw, again)
    state = _start(rollouts, current, v2, strategy)
    done = rollouts.drive(state, HealthReader(gw, FUNCTION, ALIAS, ()))
    assert done.status == "promoted", done.reason
    assert all(h.outcome == "pass" for h in done.history)
    assert len(done.history) == len(state.weights)
    shifts = [r for h in done.history for r in h.readings if r.gate == "prediction_shift"]
    assert shifts and all(r.passed and "value groups" in r.detail for r in shifts)


@pytest.fixture(scope="module")
def regressor_fn(tmp_path_factory, deps_layer, runtime_dir):
    opt = tmp_path_factory.mktemp("regressor-opt")
    write_model_layer(
        opt, regressor_steps("ridge"), input_kind="features", version="r1", n_features=3
    )
    proc = HandlerProcess(
        model_dir=opt / "mlayer",
        deps_layer=deps_layer,
        runtime_dir=runtime_dir,
        workdir=tmp_path_factory.mktemp("regressor-fn"),
        env={"MLAYER_OUTPUT_SINK": "stdout://", "AWS_LAMBDA_FUNCTION_VERSION": "4"},
    )
    yield proc
    proc.close()


def test_the_function_counts_a_regressors_predictions_into_value_bins(regressor_fn):
    steps = regressor_steps("ridge")
    rows = INPUTS[:20].round(3)
    expected = steps[-1].predict(steps[0].transform(rows))
    before = len(regressor_fn.metrics())
    records = [{"id": f"r{i}", "features": row} for i, row in enumerate(rows.tolist())]
    regressor_fn.invoke(kinesis_event(records, shard="shardId-000000000001"))
    lines = regressor_fn.metrics()[before:]
    bins = {
        line["prediction_bin"]: line["prediction_bins"]
        for line in lines
        if "prediction_bin" in line
    }
    want: dict[str, int] = {}
    for value in expected:
        want[bin_key(float(value))] = want.get(bin_key(float(value)), 0) + 1
    assert bins == want and sum(bins.values()) == 20
    assert not [line for line in lines if "prediction" in line]  # no class lines

    extracted = emf_metrics([json.dumps(line) for line in lines], 0.0)
    by_key = {(d.name, tuple(sorted(d.dimensions.items()))): d.value for _, d in extracted}
    some = next(iter(want))
    dims = (("function", "mlayer-predict"), ("function_version", "4"), ("prediction_bin", some))
    assert by_key[("prediction_bins", dims)] == want[some]
