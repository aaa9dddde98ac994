"""Shadow testing's pure parts: the function's comparison and buckets agree with what
`mlayer shadow status` reads back; fit refusals name the sizes; the state file round-trips and
prune protects what an active one names."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlayer.arns import LayerVersionArn
from mlayer.errors import BudgetError, UsageError
from mlayer.gateway.views import FunctionConfig
from mlayer.prune.read import named_in
from mlayer.shadow import fit, readings, state

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "function"))
from mlayer_function import shadow_metrics  # noqa: E402

MIB = 1024 * 1024
ARN = "arn:aws:lambda:us-east-1:123456789012:layer:m-model:7"


@settings(max_examples=200)
@given(st.floats(min_value=1.01e-9, max_value=1e6, allow_nan=False))
def test_the_functions_bucket_is_one_status_reads_and_holds_the_difference(diff):
    label = shadow_metrics.bucket_of(diff)
    bounds = readings.bucket_bounds()
    index = [b[0] for b in bounds].index(label)
    assert bounds[index][1] >= diff * (1 - 1e-9)
    assert bounds[index - 1][1] < diff * (1 + 1e-9)  # the smallest bucket that holds it


def test_exact_agreement_and_huge_differences_have_their_buckets():
    assert shadow_metrics.bucket_of(0.0) == "0" and shadow_metrics.bucket_of(1e-12) == "0"
    assert shadow_metrics.bucket_of(1e9) == "inf"
    assert {label for label, _ in readings.bucket_bounds()} >= {"0", "inf", "1", "1e+06"}


@settings(max_examples=100)
@given(st.lists(st.floats(min_value=0, max_value=1e5, allow_nan=False), min_size=1, max_size=300))
def test_the_p95_read_back_bounds_the_true_one_within_a_bucket(diffs):
    result = shadow_metrics.compare([0.0] * len(diffs), diffs, list(range(len(diffs))), False)
    bound = readings.percentile_bound(result.buckets, 0.95)
    ordered = sorted(diffs)
    true = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]
    if true <= shadow_metrics.SMALLEST_BUCKET:  # floating-point noise counts as agreement
        assert bound <= shadow_metrics.SMALLEST_BUCKET
    else:
        assert true * (1 - 1e-9) <= bound <= true * 10**0.1 * (1 + 1e-9)
    assert result.abs_diff_sum == pytest.approx(sum(diffs))


def test_a_classifiers_comparison_counts_agreements_and_nan_dead_letters():
    live = ["spam", "ham", "spam", "ham"]
    candidate = ["spam", "spam", float("nan"), "ham"]
    result = shadow_metrics.compare(live, candidate, ["a", "b", "c", "d"], True)
    assert (result.records, result.agreed, result.dead) == (3, 2, {"nan": 1})
    assert result.disagreements == [{"id": "b", "live": "ham", "shadow": "spam"}]


def test_summarize_gives_agreement_times_and_extra_cost():
    r = readings.summarize(
        {"shadow_records": 200, "shadow_batches": 2, "shadow_agreed": 150,
         "live_predict_ms": 10.0, "shadow_predict_ms": 20.0},
        {}, {"raised": 0, "nan": 4}, {},
        classifier=True, sample=0.5, memory_mb=2048, architecture="arm64",
    )  # fmt: skip
    assert (r.records_compared, r.agreement, r.dead_letters) == (200, 0.75, {"nan": 4})
    assert (r.live_predict_ms, r.shadow_predict_ms) == (5.0, 10.0)
    # 0.1 ms a record, seen by half the batches, 2 GB at arm64's price
    assert r.extra_usd_per_million == pytest.approx(0.05 / 1000 * 1e6 * 2 * 0.0000133334)


def _manifest(size: int, store: str = "layer") -> dict:
    return {"artifacts": [{"file": "m.joblib", "size": size, "store": store}]}


def test_a_candidate_over_the_tmp_budget_is_refused_with_the_sizes():
    config = FunctionConfig.parse({"MemorySize": 10240, "EphemeralStorage": {"Size": 512}})
    with pytest.raises(BudgetError) as err:
        fit.check_fit(_manifest(300 * MIB, "s3"), _manifest(1 * MIB), 100 * MIB, 150 * MIB, config)
    message = err.value.message
    assert "300.0 MB" in message and "100.0 MB zipped" in message and "512 MB" in message
    ok = fit.check_fit(_manifest(10 * MIB, "s3"), _manifest(MIB), MIB, 2 * MIB, config)
    assert ok.tmp_bytes == 13 * MIB and ok.ephemeral_mb == 512


def test_a_candidate_that_reads_other_records_is_refused():
    live = {"input_kind": "text", "n_features": None, "input_schema": None}
    with pytest.raises(UsageError, match="input_kind 'features'"):
        fit.check_same_input(live, {**live, "input_kind": "features", "n_features": 4})
    with pytest.raises(UsageError, match="--code"):
        fit.check_same_input(live, {**live, "code": [{"file": "python/x.py"}]})


def _state(status: str = state.ACTIVE) -> state.ShadowState:
    return state.ShadowState(
        function="f", status=status, layer_version_arn=ARN, model_version="v7",
        zip_sha256="a" * 64, content_sha256="b" * 64,
        live_layer_version_arn=ARN.replace(":7", ":6"), live_model_version="v6",
        sample=0.1, started_at="2026-12-07T16:00:00Z", classes=("ham", "spam"),
        alias="live", function_version="12",
    )  # fmt: skip


def test_the_state_round_trips_and_the_variables_leave_others_alone():
    s = _state()
    assert state.ShadowState.from_dict(s.to_dict()) == s
    env = state.with_shadow({"MLAYER_OUTPUT_SINK": "stdout://"}, "s3://b/k#x", 0.1)
    assert env == {
        "MLAYER_OUTPUT_SINK": "stdout://",
        state.ENV_LAYER: "s3://b/k#x",
        state.ENV_SAMPLE: "0.1",
    }
    assert state.with_shadow(env, None) == {"MLAYER_OUTPUT_SINK": "stdout://"}


def test_prune_protects_what_an_active_shadow_names_and_nothing_once_stopped():
    model = LayerVersionArn.parse(ARN)
    versions, layers = named_in(_state().to_dict(), "f", model)
    assert ARN in layers and "12" in versions
    assert named_in(_state(state.STOPPED).to_dict(), "f", model) == (set(), set())
