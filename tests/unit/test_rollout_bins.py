"""A regressor's prediction shift: the function's fixed value bins (the same for every model
version), merged by the rollout into groups of the old version's records, then PSI."""

from __future__ import annotations

import math
import random
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlayer.rollout import stats
from mlayer.rollout.gates import Health, Thresholds, judge

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "function"))

from mlayer_function.prediction_counts import (  # noqa: E402
    BINS_PER_OCTAVE,
    ZERO_BELOW,
    CountingOutput,
    bin_key,
)

finite = st.floats(allow_nan=False, allow_infinity=False)


@given(finite)
def test_a_value_lies_in_its_bin_which_is_an_eighth_octave_wide(x):
    key = bin_key(x)
    edge = float(key)
    if abs(x) < ZERO_BELOW:
        assert key == "0"
        return
    assert math.copysign(1, edge) == math.copysign(1, x)
    # the name is rounded to 6 significant digits
    assert abs(edge) <= abs(x) * (1 + 1e-5)
    assert abs(x) < abs(edge) * 2 ** (1 / BINS_PER_OCTAVE) * (1 + 1e-5)


@given(finite, finite)
def test_bins_keep_the_order_of_values(x, y):
    lo, hi = sorted((x, y))
    assert float(bin_key(lo)) <= float(bin_key(hi))


def test_bins_of_special_values():
    assert [bin_key(v) for v in (0.0, -0.0, 1.0, 2.0, -2.0, 1e-9)] == [
        "0",
        "0",
        "1",
        "2",
        "-2",
        "0",
    ]
    assert (bin_key(math.inf), bin_key(-math.inf), bin_key(math.nan)) == ("inf", "-inf", "nan")


class _Sink:
    def __init__(self) -> None:
        self.docs: list[dict] = []

    def prepare(self, doc):
        self.docs.append(doc)
        return doc


def test_a_regressor_counts_bins_and_passes_every_result_on():
    sink = _Sink()
    counting = CountingOutput(sink, classes=False)
    for value in (1.0, 1.1, 3.0, [5.0, -1.0], "not a number", None):
        counting.prepare({"id": "r", "prediction": value})
    assert len(sink.docs) == 6
    lines = counting.lines(namespace="mlayer", timestamp_ms=0, dimensions={"function": "f"})
    import json

    docs = [json.loads(line) for line in lines]
    assert {d["prediction_bin"]: d["prediction_bins"] for d in docs} == {
        "1": 1,
        "1.09051": 1,
        "2.82843": 1,
        "4.75683": 1,
    }
    assert docs[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["function", "prediction_bin"]]
    assert counting.take() == {}  # lines() started the next batch afresh


def _bins(values) -> dict[str, float]:
    out: dict[str, float] = {}
    for v in values:
        out[bin_key(v)] = out.get(bin_key(v), 0) + 1
    return out


def _health(values, invocations=None) -> Health:
    return Health(
        invocations=invocations or max(1, len(values) // 10),
        records=len(values),
        p99_ms=40.0,
        bins=_bins(values),
    )


@given(
    st.dictionaries(st.sampled_from(["-2", "0", "1", "1.09051", "8", "nan"]), st.integers(0, 500)),
    st.dictionaries(st.sampled_from(["-2", "0", "1", "1.09051", "8", "64"]), st.integers(0, 500)),
)
def test_grouping_keeps_every_record(old, new):
    g_old, g_new = stats.group_bins(old, new)
    assert sum(g_old.values()) == sum(old.values())
    assert sum(g_new.values()) == sum(new.values())
    assert len(g_old) <= 10
    if sum(old.values()) > 0:
        assert all(count > 0 for count in g_old.values())  # every group holds old records


DISTRIBUTIONS = {
    "normal": lambda r: r.gauss(100.0, 15.0),
    "around zero": lambda r: r.gauss(0.0, 1.0),
    "lognormal": lambda r: r.lognormvariate(3.0, 1.0),
    "few values": lambda r: r.choice([0.0, 1.0, 2.5, 10.0]),
    "mixed signs": lambda r: r.choice([-1, 1]) * r.expovariate(0.01),
}


@st.composite
def aa_regressor(draw):
    kind = draw(st.sampled_from(sorted(DISTRIBUTIONS)))
    weight = draw(st.sampled_from([0.05, 0.1, 0.25, 0.5, 0.9]))
    total = draw(st.integers(min_value=2_000, max_value=10_000))
    rng = random.Random(draw(st.integers(0, 2**32)))
    pick = DISTRIBUTIONS[kind]
    return [[pick(rng) for _ in range(round(total * w))] for w in (weight, 1 - weight)]


@settings(max_examples=40, deadline=None)
@given(aa_regressor())
def test_an_identical_regressor_passes(pair):
    new, old = pair
    verdict = judge(_health(new), _health(old), Thresholds(min_records=100))
    assert verdict.outcome == "pass", verdict.failed


def test_aa_regressors_over_many_steps_stop_at_most_rarely():
    """1,000 simulated A/A steps of a 10% canary (300 records on the new version): the
    binned PSI gate's false stops, counted (the bound aims at about 1 in 30,000)."""
    rng = random.Random(11)
    stops = 0
    for _ in range(1_000):
        new = [rng.gauss(100.0, 15.0) for _ in range(300)]
        old = [rng.gauss(100.0, 15.0) for _ in range(2_700)]
        verdict = judge(_health(new), _health(old), Thresholds(min_records=100))
        stops += verdict.outcome != "pass"
    assert stops <= 1


@pytest.mark.parametrize("constant", [100.0, 0.0, 1e6])
def test_a_regressor_predicting_a_constant_fails_the_prediction_shift(constant):
    rng = random.Random(3)
    old = [rng.gauss(100.0, 15.0) for _ in range(900)]
    verdict = judge(_health([constant] * 100), _health(old), Thresholds(min_records=100))
    assert verdict.outcome == "fail"
    failed = verdict.failed
    assert failed.gate == "prediction_shift" and failed.new > 1.0
    assert "value groups" in failed.detail


def test_a_regressor_shifted_past_the_old_range_fails():
    rng = random.Random(4)
    old = [rng.gauss(100.0, 15.0) for _ in range(900)]
    new = [rng.gauss(300.0, 15.0) for _ in range(100)]
    assert judge(_health(new), _health(old), Thresholds(min_records=100)).failed.gate == (
        "prediction_shift"
    )


def test_a_health_with_bins_round_trips():
    h = _health([1.0, 2.0, 2.1])
    assert Health.from_dict(h.to_dict()) == h
    assert Health.from_dict({k: v for k, v in h.to_dict().items() if k != "bins"}).bins == {}
