"""publish-model's plan (publish_plan.py), without AWS: plain values in, a frozen plan out.

Every decision the plan owns, one by one: the label, the target version, reuse, the store
(layer, S3, auto, ONNX), the budget with and without a function, the relink, /tmp, the
memory and unknown-size warnings, and the confirm question; properties over generated sizes.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlayer.errors import BudgetError, ModelError, UsageError
from mlayer.gateway.views import LayerVersion
from mlayer.model import manifest as mf
from mlayer.onnx.errors import OnnxUnavailableError
from mlayer.publishing import labels, publish_plan
from mlayer.publishing.models import FunctionLayers, LayerArtifact, LayerSize
from mlayer.publishing.publish_plan import (
    first_free_number,
    next_arn,
    plan_link,
    plan_publish,
    question,
    relink_needed,
)
from mlayer.publishing.publish_types import (
    FunctionView,
    LiveState,
    ModelFacts,
    ReusedVersion,
)
from mlayer.publishing.resolved import ResolvedPublish
from mlayer.request_types import PublishRequest
from mlayer.runtimes import MAX_UNZIPPED_BYTES

FN, LAYER, BUCKET = "scorer", "m-model", "bkt"
ACCOUNT = "123456789012"
MB = 1024 * 1024
SHA = "ab" * 32


def arn(name: str, version: int, account: str = ACCOUNT) -> str:
    return f"arn:aws:lambda:us-east-1:{account}:layer:{name}:{version}"


def req(**kw: object) -> ResolvedPublish:
    fields: dict = dict(
        function=FN,
        layer=LAYER,
        bucket=BUCKET,
        deps_layer="deps",
        runtime="python3.12",
        link=True,
        alias=None,
        model="model.joblib",
        preprocessors=(),
        code_files=(),
        metrics=None,
        input_kind="text",
        format="sklearn",
        store="layer",
        store_flag=None,
        label=None,
        description="",
        dry_run=False,
        allow_version_mismatch=True,
        request=PublishRequest(),
    )
    return ResolvedPublish(**{**fields, **kw})


def facts(size: int = 1000, fmt: str = "sklearn", sha: str = SHA) -> ModelFacts:
    artifact = LayerArtifact("00-model.joblib", "model", sha, size, "sklearn.X", "1.5.0")
    manifest = mf.build_manifest(
        label="",
        artifacts=[artifact],
        code=[],
        input_kind="text",
        outputs={"predict": True},
        n_features=None,
        versions={},
        created_at="2026-12-07T00:00:00Z",
        created_by={},
    )
    manifest["format"] = fmt
    return ModelFacts(manifest, fmt, (size,), (), ("a note",))


def function(
    *layers: str, tmp: int = 512, memory: int | None = 1024, code: int = 0
) -> FunctionView:
    return FunctionView(
        arn=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{FN}",
        runtime="python3.12",
        memory_mb=memory,
        tmp_mb=tmp,
        layers=FunctionLayers(tuple(layers)),
        size=LayerSize(code),
    )


def live(
    fn: FunctionView | None = None,
    versions: tuple[int, ...] = (),
    sizes: dict[str, LayerSize] | None = None,
    **kw: object,
) -> LiveState:
    views = tuple(
        LayerVersion(arn(LAYER, v), v, f"v{v} sha:{'0' * 12}") for v in sorted(versions)[::-1]
    )
    if sizes is None and fn is not None:
        sizes = {a: LayerSize(1000) for a in fn.layers.arns}
    fields: dict = dict(function=fn, versions=views, lock=None, lock_source="", sizes=sizes or {})
    return LiveState(**{**fields, **kw})


DEPS = arn("deps", 3)


def test_a_first_publish_claims_v1_and_targets_version_1_from_the_functions_arn():
    plan = plan_publish(req(), facts(), live(function(DEPS)))
    assert (plan.label, plan.first_free, plan.claim, plan.reused) == ("v1", 1, True, None)
    assert plan.target == arn(LAYER, 1) and plan.version == 1
    assert plan.manifest["model_version"] == "v1" and plan.store.store == "layer"
    assert plan.warnings[0] == "a note"  # the model's notes, then the compatibility check's
    assert "No dependencies-layer lock was found" in plan.warnings[1]


def test_without_the_flag_a_missing_lock_is_refused_before_anything():
    with pytest.raises(ModelError, match="No dependencies-layer lock found"):
        plan_publish(req(allow_version_mismatch=False), facts(), live(function(DEPS)))


def test_labels_carried_by_versions_are_skipped_and_the_number_stays_the_next_version():
    state = live(function(DEPS), versions=(1, 2, 3), labels_taken=frozenset({"v4", "v5", "x"}))
    plan = plan_publish(req(), facts(), state)
    assert (plan.label, plan.first_free, plan.version) == ("v6", 6, 4)


def test_a_label_given_is_used_and_never_claimed():
    plan = plan_publish(req(label="golden"), facts(), live(function(DEPS)))
    assert (plan.label, plan.claim, plan.manifest["model_version"]) == ("golden", False, "golden")


def reused(manifest: dict | None, version: int = 2) -> ReusedVersion:
    return ReusedVersion(version, arn(LAYER, version), "cd" * 32, manifest, LayerSize(5000), 700)


def test_the_same_content_reuses_its_version_its_manifest_and_its_store():
    stored = {**facts().manifest, "model_version": "v2", "created_at": "earlier"}
    stored["artifacts"] = [{**a, "store": "s3", "bucket": BUCKET} for a in stored["artifacts"]]
    state = live(function(DEPS), versions=(1, 2), reused=reused(stored))
    plan = plan_publish(req(), facts(), state)
    assert plan.reused is not None and not plan.claim
    assert plan.target == arn(LAYER, 2) and plan.manifest == stored
    assert (plan.store.store, plan.store.reason) == (
        "s3",
        "The same content is version 2, stored in S3.",
    )
    link = plan_link(req(), state, plan, plan.reused.size)
    assert link.relink is not None and link.relink.after == (DEPS, arn(LAYER, 2))
    assert question(req(), plan, link) == f"Reuse {LAYER} v2 and relink {FN}?"


def test_a_reused_version_without_its_manifest_keeps_the_planned_one():
    state = live(function(DEPS), versions=(1,), reused=reused(None, 1))
    plan = plan_publish(req(), facts(), state)
    assert plan.manifest["model_version"] == "v2"  # v1 is carried by version 1
    assert plan.store.reason == "The same content is version 1, stored in its layer."


def budget_state(deps_size: int) -> LiveState:
    return live(function(DEPS), sizes={DEPS: LayerSize(deps_size)})


def test_auto_keeps_the_model_in_its_layer_when_it_fits():
    plan = plan_publish(req(store="auto"), facts(10 * MB), budget_state(100 * MB))
    assert plan.store.store == "layer" and "fits in its layer" in plan.store.reason


def test_auto_puts_a_model_that_does_not_fit_in_s3_behind_a_manifest_only_layer():
    plan = plan_publish(req(store="auto"), facts(200 * MB), budget_state(100 * MB))
    assert plan.store.store == "s3" and "does not fit" in plan.store.reason
    (artifact,) = plan.manifest["artifacts"]
    assert (artifact["store"], artifact["bucket"]) == ("s3", BUCKET)
    assert artifact["s3_key"] == f"models/{SHA}"


def test_store_layer_refuses_a_model_over_the_budget_and_names_s3():
    with pytest.raises(BudgetError) as refused:
        plan_publish(req(store="layer"), facts(200 * MB), budget_state(100 * MB))
    assert "--store s3" in refused.value.hint


def test_without_a_function_the_layer_must_fit_on_its_own():
    plan = plan_publish(req(link=False, store="auto"), facts(300 * MB), live(None))
    assert plan.store.store == "s3"
    assert plan.target == f"arn:aws:lambda:-:000000000000:layer:{LAYER}:1"
    with pytest.raises(BudgetError, match="unzipped"):
        plan_publish(req(link=False, store="layer"), facts(300 * MB), live(None))


def test_onnx_ships_in_its_layer_and_refuses_an_explicit_s3_store():
    onnx = facts(fmt="onnx")
    with pytest.raises(UsageError, match="an ONNX model ships its graph in its layer"):
        plan_publish(req(store="s3", store_flag="s3"), onnx, live(function(DEPS)))
    plan = plan_publish(req(store="auto"), onnx, live(function(DEPS)))
    assert (plan.store.store, plan.store.requested) == ("layer", "auto")
    assert plan.store.reason.startswith("ONNX:")


def test_onnx_is_refused_on_a_live_runtime_that_cannot_load_it():
    old = dataclasses.replace(function(DEPS), runtime="python3.11")
    with pytest.raises(OnnxUnavailableError, match="python3.11"):
        plan_publish(req(), facts(fmt="onnx"), live(old))


def test_no_link_plans_no_relink_and_no_tmp():
    state = live(function(DEPS))
    plan = plan_publish(req(link=False), facts(), state)
    link = plan_link(req(link=False), state, plan, LayerSize(2000))
    assert (link.relink, link.ephemeral) == (None, None)
    assert question(req(link=False), plan, link) == f"Publish {LAYER} v1?"


def test_the_relink_replaces_the_model_layer_in_place_and_counts_the_zip():
    old = arn(LAYER, 1)
    state = live(function(DEPS, old, code=100), versions=(1,))
    plan = plan_publish(req(), facts(), state)
    link = plan_link(req(), state, plan, LayerSize(2000))
    assert link.relink is not None
    assert link.relink.after == (DEPS, arn(LAYER, 2)) and link.relink.old_arn == old
    assert link.relink.total_unzipped == 100 + 1000 + 2000
    assert link.warnings == ()


def test_s3_artifacts_grow_tmp_and_a_big_model_warns_about_memory():
    state = live(function(DEPS, tmp=512, memory=256), sizes={DEPS: LayerSize(1000)})
    plan = plan_publish(req(store="s3"), facts(900 * MB), state)
    link = plan_link(req(), state, plan, LayerSize(4000))
    assert link.ephemeral is not None and link.ephemeral.changes
    assert link.ephemeral.size_mb == link.ephemeral.required_mb > 512
    assert link.ephemeral.current_mb == 512
    assert any("over half of the function's" in w for w in link.warnings)


def test_tmp_is_never_shrunk():
    state = live(function(DEPS, tmp=4096))
    plan = plan_publish(req(store="s3"), facts(10 * MB), state)
    link = plan_link(req(), state, plan, LayerSize(4000))
    assert link.ephemeral is not None and link.ephemeral.size_mb is None
    assert link.ephemeral.current_mb == 4096


def test_another_accounts_layer_of_unknown_size_is_a_warning():
    foreign = arn("tools", 1, account="999999999999")
    state = live(
        function(foreign, DEPS), sizes={foreign: LayerSize(0, False, False), DEPS: LayerSize(1)}
    )
    plan = plan_publish(req(), facts(), state)
    link = plan_link(req(), state, plan, LayerSize(2000))
    assert any("another account's layer" in w for w in link.warnings)


def test_next_arn_from_a_version_then_the_function_then_a_placeholder():
    versions = (LayerVersion(arn(LAYER, 3), 3),)
    assert next_arn(versions, None, LAYER, 4) == arn(LAYER, 4)
    assert next_arn((), function(), LAYER, 1) == arn(LAYER, 1)
    assert next_arn((), None, LAYER, 1) == f"arn:aws:lambda:-:000000000000:layer:{LAYER}:1"


def test_relink_needed_when_the_layers_the_alias_or_tmp_change():
    state = live(function(DEPS, arn(LAYER, 1)), versions=(1,))
    plan = plan_publish(req(), facts(), state)
    same = dataclasses.replace(plan, target=arn(LAYER, 1))
    unchanged = plan_link(req(), state, same, LayerSize(10)).relink
    changed = plan_link(req(), state, plan, LayerSize(10)).relink
    assert relink_needed(changed, None, None) and not relink_needed(unchanged, None, None)
    assert relink_needed(unchanged, "live", None) and not relink_needed(None, "live", None)
    grow = publish_plan.EphemeralPlan(1, 600, 512, 600)
    assert relink_needed(unchanged, None, grow)


@given(
    next_version=st.integers(1, 30),
    taken=st.sets(st.integers(1, 40), max_size=25),
)
def test_first_free_label_number_property(next_version, taken):
    names = {labels.default_label(n) for n in taken}
    number = first_free_number(next_version, names)
    assert number >= next_version and labels.default_label(number) not in names
    assert all(labels.default_label(n) in names for n in range(next_version, number))


@given(
    deps=st.integers(0, 260).map(lambda n: n * MB),
    model=st.integers(1, 260).map(lambda n: n * MB),
    code=st.integers(0, 20).map(lambda n: n * MB),
)
def test_auto_store_property(deps, model, code):
    """auto: the layer exactly when it fits, else S3 when the manifest-only layer fits, else
    the layer's refusal; the choice agrees with the relink planned for it."""
    state = live(function(DEPS, code=code), sizes={DEPS: LayerSize(deps)})
    room = MAX_UNZIPPED_BYTES - code - deps
    try:
        plan = plan_publish(req(store="auto"), facts(model), state)
    except BudgetError:
        assert room < 10_000  # not even the manifest-only layer fits
        return
    layer_form = len(mf.to_json(plan.manifest)) + model
    if plan.store.store == "layer":
        assert layer_form <= room
    else:
        assert model + len(mf.to_json(facts(model).manifest)) > room
    link = plan_link(
        req(), state, plan, LayerSize(layer_form if plan.store.store == "layer" else 1)
    )
    assert link.relink is not None and link.relink.budget_left >= 0
