"""The rollout's pure core: the plan of steps, the gates' judgement, PSI, the state file."""

from __future__ import annotations

import json
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlayer.errors import ConfigError
from mlayer.rollout import stats
from mlayer.rollout.gates import Health, Thresholds, judge
from mlayer.rollout.plan import parse_duration, step_wait_s, step_weights
from mlayer.rollout.state import RolloutState, StepRecord, state_key

T = Thresholds()
OLD = Health(
    invocations=90,
    errors=0,
    records=900,
    dead_letters=0,
    p99_ms=40.0,
    predictions={"spam": 450, "ham": 450},
)


def healthy_new(**changes) -> Health:
    base = {
        "invocations": 10,
        "errors": 0,
        "records": 100,
        "dead_letters": 0,
        "p99_ms": 41.0,
        "predictions": {"spam": 52, "ham": 48},
    }
    return Health(**{**base, **changes})


# --- plan ---


@pytest.mark.parametrize(
    ("strategy", "percent", "weights"),
    [
        ("all-at-once", 10, ()),
        ("canary", 10, (0.1,)),
        ("canary", 2.5, (0.025,)),
        ("linear", 25, (0.25, 0.5, 0.75)),
        ("linear", 30, (0.3, 0.6, 0.9)),
        ("linear", 50, (0.5,)),
        ("linear", 60, (0.6,)),
    ],
)
def test_step_weights_per_strategy(strategy, percent, weights):
    assert step_weights(strategy, percent) == weights


@pytest.mark.parametrize(
    ("strategy", "percent"),
    [("canary", 0), ("linear", 100), ("x", 10), ("linear", 0.5), ("canary", -5)],
)
def test_impossible_plans_are_config_errors(strategy, percent):
    with pytest.raises(ConfigError) as err:
        step_weights(strategy, percent)
    assert err.value.hint


@given(st.floats(min_value=1, max_value=99, allow_nan=False))
def test_linear_weights_rise_below_one_by_the_percent(percent):
    weights = step_weights("linear", percent)
    assert weights and all(0 < w < 1 for w in weights)
    assert list(weights) == sorted(set(weights))
    assert weights[0] == pytest.approx(percent / 100, abs=1e-6)
    assert 1 - weights[-1] <= percent / 100 + 1e-9


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5m", 300), ("30s", 30), ("1h", 3600), ("250ms", 0.25), ("90", 90), (12, 12), (" 2 m", 120)],
)
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5 minutes", "0s", "-1m", "m5", True])
def test_bad_durations_are_config_errors(text):
    with pytest.raises(ConfigError):
        parse_duration(text)


def test_a_step_waits_its_interval_plus_one_metric_period():
    assert step_wait_s(300) == 360
    assert step_wait_s(0.2, metric_period_s=0.1) == pytest.approx(0.3)


# --- gates ---


def test_a_healthy_new_version_passes_every_gate():
    verdict = judge(healthy_new(), OLD, T)
    assert verdict.outcome == "pass"
    assert [r.gate for r in verdict.readings] == [
        "traffic",
        "errors",
        "dead_letters",
        "latency",
        "prediction_shift",
    ]
    assert verdict.failed is None


@pytest.mark.parametrize(
    ("new", "gate"),
    [
        (healthy_new(errors=10), "errors"),  # it raises on every batch
        (
            healthy_new(records=67, dead_letters=33, predictions={"spam": 34, "ham": 33}),
            "dead_letters",
        ),
        (healthy_new(p99_ms=120.0), "latency"),  # 3x slower
        (healthy_new(predictions={"spam": 100}), "prediction_shift"),  # one class for all
    ],
)
def test_each_bad_model_fails_its_gate(new, gate):
    verdict = judge(new, OLD, T)
    assert verdict.outcome == "fail"
    failed = verdict.failed
    assert failed.gate == gate
    assert failed.new != failed.old
    assert failed.threshold > 0


def test_a_step_short_of_traffic_waits_a_bounded_number_of_times_then_fails():
    thin = healthy_new(records=20, predictions={"spam": 10, "ham": 10})
    for used in range(T.max_extensions):
        verdict = judge(thin, OLD, T, extensions_used=used)
        assert verdict.outcome == "wait"
        assert verdict.failed.gate == "traffic"
        assert [r.gate for r in verdict.readings if not r.passed] == ["traffic"]
    verdict = judge(thin, OLD, T, extensions_used=T.max_extensions)
    assert verdict.outcome == "fail"
    assert "not enough traffic" in verdict.failed.detail
    assert (verdict.failed.new, verdict.failed.threshold) == (20, 100)


def test_a_model_raising_on_every_batch_fails_at_once_though_it_predicted_nothing():
    verdict = judge(Health(invocations=4, errors=4), OLD, T)
    assert verdict.outcome == "fail"
    assert verdict.failed.gate == "errors"
    assert (verdict.failed.new, verdict.failed.old) == (1.0, 0.0)


def test_the_old_version_needs_traffic_too():
    verdict = judge(healthy_new(), Health(records=5, predictions={"ham": 5}), T)
    assert verdict.outcome == "wait"
    assert "old version" in verdict.failed.detail


def test_a_small_latency_difference_is_within_the_slack():
    assert (
        judge(healthy_new(p99_ms=5.0), Health(**{**OLD.to_dict(), "p99_ms": 2.0}), T).outcome
        == "pass"
    )


def test_a_few_errors_within_chance_do_not_stop_the_rollout():
    old = Health(**{**OLD.to_dict(), "errors": 2})
    assert judge(healthy_new(errors=1), old, T).outcome == "pass"


# --- A/A: identical models never fail a gate, given enough records ---


@st.composite
def aa_pair(draw):
    classes = draw(st.integers(min_value=2, max_value=6))
    raw = draw(st.lists(st.floats(min_value=0.05, max_value=1), min_size=classes, max_size=classes))
    shares = [w / sum(raw) for w in raw]
    error_p = draw(st.floats(min_value=0, max_value=0.2))
    dead_p = draw(st.floats(min_value=0, max_value=0.3))
    weight = draw(st.sampled_from([0.05, 0.1, 0.25, 0.5, 0.75, 0.9]))
    total = draw(st.integers(min_value=2_000, max_value=20_000))
    rng = random.Random(draw(st.integers(0, 2**32)))
    return [
        _draw_health(rng, round(total * w), shares, error_p, dead_p) for w in (weight, 1 - weight)
    ]


def _draw_health(rng, records, shares, error_p, dead_p) -> Health:
    labels = [f"c{i}" for i in range(len(shares))]
    dead = sum(rng.random() < dead_p for _ in range(records))
    predicted = records - dead
    picks = rng.choices(labels, weights=shares, k=predicted)
    invocations = max(1, records // 10)
    return Health(
        invocations=invocations,
        errors=sum(rng.random() < error_p for _ in range(invocations)),
        records=predicted,
        dead_letters=dead,
        p99_ms=40.0 + rng.uniform(-5, 5),
        predictions={label: picks.count(label) for label in labels},
    )


@settings(max_examples=60, deadline=None)
@given(aa_pair())
def test_aa_never_fails_a_gate_given_enough_records(pair):
    new, old = pair
    thresholds = Thresholds(min_records=100)
    assert min(new.records + new.dead_letters, old.records + old.dead_letters) >= 100
    verdict = judge(new, old, thresholds)
    assert verdict.outcome == "pass", verdict.failed


# --- PSI ---

counts = st.dictionaries(
    st.sampled_from("abcdef"), st.integers(min_value=0, max_value=10_000), min_size=1
)


@given(counts)
def test_psi_of_a_distribution_with_itself_is_zero(c):
    assert stats.psi(c, c) == pytest.approx(0.0, abs=1e-12)


@given(counts, st.integers(min_value=1, max_value=50))
def test_psi_depends_on_shares_not_totals(c, k):
    assert stats.psi(c, {key: v * k for key, v in c.items()}) == pytest.approx(0.0, abs=1e-9)


@given(counts, counts)
def test_psi_is_non_negative_and_symmetric(a, b):
    value = stats.psi(a, b)
    assert value >= -1e-12
    assert value == pytest.approx(stats.psi(b, a), rel=1e-9, abs=1e-12)
    assert math.isfinite(value)


def test_psi_grows_with_the_shift():
    old = {"a": 50, "b": 50}
    values = [stats.psi(old, {"a": 50 + d, "b": 50 - d}) for d in (0, 10, 25, 40, 50)]
    assert values == sorted(values) and values[0] == 0 and values[-1] > 2


def test_percentile_from_value_counts():
    assert stats.percentile({1.0: 98, 50.0: 1, 100.0: 1}, 99) == 50.0
    assert stats.percentile({3.0: 1}, 99) == 3.0
    assert stats.percentile({}, 99) == 0.0


# --- state file ---


def _state(**changes) -> RolloutState:
    base = dict(
        function="f",
        alias="live",
        strategy="linear",
        old_version="3",
        new_version="4",
        weights=(0.25, 0.5, 0.75),
        interval_s=300.0,
        thresholds=Thresholds(),
        started_at=1000.0,
        updated_at=1000.0,
        step_started_at=1000.0,
        old_model_version="7",
        new_model_version="8",
        classes=("spam", "ham"),
    )
    return RolloutState(**{**base, **changes})


def test_state_key():
    assert state_key("fraud", "live") == "rollouts/fraud/live.json"
    assert _state().key == "rollouts/f/live.json"


def test_state_moves_through_steps_and_round_trips_through_json():
    record = StepRecord(
        0, 0.25, 1000.0, 1360.0, "pass", healthy_new(), OLD, judge(healthy_new(), OLD, T).readings
    )
    state = _state()
    assert state.weight == 0.25 and state.active
    state = state.extended(record, 1360.0)
    assert (state.step, state.extensions, state.weight) == (0, 1, 0.25)
    assert (state.step_started_at, state.updated_at) == (1000.0, 1360.0)
    state = state.advanced(record, 1720.0)
    assert (state.step, state.extensions, state.weight, state.step_started_at) == (
        1,
        0,
        0.5,
        1720.0,
    )
    done = state.finished("rolled_back", "errors", 2000.0, record)
    assert done.weight == 0.0 and not done.active and len(done.history) == 3
    for s in (state, done, _state().finished("promoted", "", 3000.0)):
        doc = json.loads(json.dumps(s.to_dict()))
        assert RolloutState.from_dict(doc) == s
    assert _state().finished("promoted", "", 1.0).weight == 1.0


def test_state_of_another_schema_is_refused():
    doc = _state().to_dict() | {"schema_version": 99}
    with pytest.raises(ValueError):
        RolloutState.from_dict(doc)
