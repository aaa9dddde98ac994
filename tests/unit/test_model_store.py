"""Choosing a model's store, its manifest's S3 form, and sizing /tmp: the pure decisions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlayer.errors import BudgetError, UsageError
from mlayer.publishing import ephemeral, model_store, planner
from mlayer.publishing.models import FunctionLayers, LayerArtifact, LayerSize
from mlayer.runtimes import MAX_UNZIPPED_BYTES

MB = 1024 * 1024
MODEL = "f-model"
DEPS = "arn:aws:lambda:us-east-1:123456789012:layer:f-deps:1"
NEW = f"arn:aws:lambda:us-east-1:123456789012:layer:{MODEL}:2"


def room_left_with(deps_bytes: int, *, layers: tuple[str, ...] = (DEPS,), code: int = 0):
    """The closure publish builds: plan a model layer of ``size`` bytes with the planner."""
    current = FunctionLayers(layers, code)

    def room_left(size: int) -> int:
        sizes = {arn: LayerSize(deps_bytes) for arn in layers} | {NEW: LayerSize(size)}
        return planner.plan_relink(
            "f", current, MODEL, NEW, sizes, function_size=LayerSize(code)
        ).budget_left

    return room_left


def test_auto_keeps_a_model_that_fits_in_its_layer():
    choice = model_store.choose_store(
        "auto", layer_size=40 * MB, s3_size=4000, room_left=room_left_with(188 * MB)
    )
    assert choice.store == "layer" and "fits in its layer" in choice.reason
    assert "22.0 MB of the budget left" in choice.reason


def test_auto_sends_a_model_over_the_remaining_budget_to_s3_and_says_why():
    choice = model_store.choose_store(
        "auto", layer_size=120 * MB, s3_size=4000, room_left=room_left_with(188 * MB)
    )
    assert choice.store == "s3" and choice.requested == "auto"
    assert "(120.0 MB) does not fit" in choice.reason
    assert "remaining layer budget (62.0 MB of 250.0 MB)" in choice.reason


def test_auto_keeps_the_planners_refusal_when_s3_would_not_help():
    six = tuple(f"arn:aws:lambda:us-east-1:123456789012:layer:l{i}:1" for i in range(5))
    with pytest.raises(BudgetError, match="Lambda allows 5"):
        model_store.choose_store(
            "auto", layer_size=10 * MB, s3_size=4000, room_left=room_left_with(MB, layers=six)
        )
    with pytest.raises(BudgetError, match="would be"):
        model_store.choose_store(
            "auto", layer_size=10 * MB, s3_size=4000, room_left=room_left_with(251 * MB)
        )


def test_explicit_stores_are_taken_as_asked():
    never = room_left_with(300 * MB)  # refuses anything
    with pytest.raises(BudgetError) as err:
        model_store.choose_store("layer", layer_size=MB, s3_size=1, room_left=never)
    assert "--store s3" in err.value.hint
    fits = room_left_with(100 * MB)
    assert model_store.choose_store("layer", layer_size=MB, s3_size=1, room_left=fits).store == (
        "layer"
    )
    assert model_store.choose_store("S3", layer_size=MB, s3_size=1, room_left=never).store == "s3"
    with pytest.raises(UsageError, match="auto, layer, s3"):
        model_store.check_store("efs")


def test_standalone_fit_is_the_250_mb_limit():
    assert model_store.standalone_fit(MAX_UNZIPPED_BYTES) == 0
    with pytest.raises(BudgetError) as err:
        model_store.standalone_fit(MAX_UNZIPPED_BYTES + 1)
    assert "--store s3" in err.value.hint


def _manifest(*sizes: int) -> dict:
    return {
        "content_sha256": "c" * 64,
        "artifacts": [
            {"file": f"{i:02d}-x.joblib", "sha256": f"{i}" * 64, "size": s, "role": "model"}
            for i, s in enumerate(sizes)
        ],
    }


def test_s3_form_adds_where_each_artifact_lives_and_keeps_the_identity():
    manifest = _manifest(10, 20)
    s3 = model_store.to_s3_form(manifest, "bkt")
    assert s3["content_sha256"] == manifest["content_sha256"]
    assert s3["artifacts"][1] == {
        **manifest["artifacts"][1],
        "store": "s3",
        "bucket": "bkt",
        "s3_key": "models/" + "1" * 64,
    }
    assert "store" not in manifest["artifacts"][0]  # the input is left alone
    place = model_store.placement(s3)
    assert place.store == "s3" and place.s3_bytes == 30
    assert place.resources == [f"arn:aws:s3:::bkt/models/{i * 64}" for i in "01"]
    assert model_store.placement(manifest).store == "layer"
    assert model_store.placement(None).store == "unknown"
    mixed = {"artifacts": [manifest["artifacts"][0], s3["artifacts"][1]]}
    assert model_store.placement(mixed).store == "mixed"


def test_upload_plan_is_content_addressed_in_pipeline_order(tmp_path):
    arts = [
        LayerArtifact("00-a.joblib", "preprocessor", "a" * 64, 3, "x.A", "1.7.2"),
        LayerArtifact("01-model.joblib", "model", "b" * 64, 5, "x.B", "1.7.2"),
    ]
    plan = model_store.plan_uploads(arts, [tmp_path / "a", tmp_path / "b"])
    assert [(p.file, p.key, p.size) for p in plan] == [
        ("00-a.joblib", "models/" + "a" * 64, 3),
        ("01-model.joblib", "models/" + "b" * 64, 5),
    ]


def test_layer_form_size_is_the_sum_of_the_zip_entries():
    assert model_store.layer_form_size(b"{}\n", [10, 20], [5]) == 38


# -- ephemeral storage --------------------------------------------------------------------------
def test_a_layer_model_needs_no_more_than_the_default():
    plan = ephemeral.plan_ephemeral(_manifest(100 * MB), {"EphemeralStorage": {"Size": 512}})
    assert plan.s3_bytes == 0 and plan.required_mb == 512 and not plan.changes
    assert plan.size_mb is None


def test_an_s3_model_grows_tmp_to_fit_it_with_the_margin():
    s3 = model_store.to_s3_form(_manifest(600 * MB), "b")
    plan = ephemeral.plan_ephemeral(s3, {})
    assert plan.current_mb == 512 and plan.required_mb == 600 + 60 + 64
    assert plan.size_mb == 724


def test_tmp_is_never_shrunk_below_what_the_function_has():
    s3 = model_store.to_s3_form(_manifest(600 * MB), "b")
    plan = ephemeral.plan_ephemeral(s3, {"EphemeralStorage": {"Size": 4096}})
    assert plan.required_mb == 724 and plan.size_mb is None


def test_a_model_too_big_for_the_largest_tmp_is_refused_naming_the_sizes():
    s3 = model_store.to_s3_form(_manifest(9800 * MB), "b")
    with pytest.raises(BudgetError) as err:
        ephemeral.plan_ephemeral(s3, {}, function="fn")
    assert "9800.0 MB" in err.value.message and "10844 MB" in err.value.message
    assert "at most 10240 MB" in err.value.message


@given(st.integers(min_value=0, max_value=12 * 1024 * MB))
def test_required_tmp_always_holds_the_artifacts_and_stays_in_lambdas_range(size):
    need = ephemeral.required_mb(size)
    assert need >= 512 and need * MB >= size
    s3 = model_store.to_s3_form(_manifest(size), "b")
    try:
        plan = ephemeral.plan_ephemeral(s3, {})
    except BudgetError:
        assert need > 10_240
    else:
        assert 512 <= (plan.size_mb or plan.current_mb) <= 10_240


def test_memory_warning_over_half_the_memory():
    assert ephemeral.memory_warning(_manifest(500 * MB), 1024) is None
    warning = ephemeral.memory_warning(_manifest(600 * MB), 1024)
    assert "600.0 MB, over half of the function's 1024 MB" in warning
    assert "1856 MB" in warning  # three times the model, rounded up to 64 MB
    assert ephemeral.memory_warning(_manifest(600 * MB), None) is None
