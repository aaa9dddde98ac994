"""rollback's plan (rollback_plan.py), without AWS: the version chosen, every refusal, the relink,
/tmp, the alias and a running rollout, the confirm question."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlayer.errors import BudgetError, ModelError, NotFoundError, PlanError
from mlayer.gateway.views import LayerVersion
from mlayer.onnx.errors import OnnxUnavailableError
from mlayer.publishing.models import FunctionLayers, LayerSize
from mlayer.publishing.publish_types import FunctionView
from mlayer.publishing.resolved import ResolvedRollback
from mlayer.publishing.rollback_plan import TargetRead, choose_target, live_version, plan_rollback

FN, LAYER, ACCOUNT = "scorer", "m-model", "123456789012"
MB = 1024 * 1024


def arn(name: str, version: int, account: str = ACCOUNT) -> str:
    return f"arn:aws:lambda:us-east-1:{account}:layer:{name}:{version}"


DEPS = arn("deps", 1)


def req(**kw: object) -> ResolvedRollback:
    fields: dict = dict(
        function=FN,
        layer=LAYER,
        bucket="bkt",
        deps_layer="deps",
        runtime="python3.12",
        alias=None,
        version=1,
        dry_run=False,
        allow_version_mismatch=True,
    )
    return ResolvedRollback(**{**fields, **kw})


def views(*numbers: int) -> tuple[LayerVersion, ...]:
    return tuple(LayerVersion(arn(LAYER, n), n) for n in sorted(numbers, reverse=True))


def function(*layers: str, tmp: int = 512, memory: int = 1024, runtime: str = "python3.12"):
    return FunctionView(
        arn=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{FN}",
        runtime=runtime,
        memory_mb=memory,
        tmp_mb=tmp,
        layers=FunctionLayers(tuple(layers)),
        size=LayerSize(0),
    )


def manifest(label: str = "v1", size: int = 1000, store: str = "layer", fmt: str = "sklearn"):
    artifact = {"file": "00-model.joblib", "role": "model", "sha256": "ab" * 32, "size": size}
    if store == "s3":
        artifact.update(store="s3", bucket="bkt", s3_key="models/" + "ab" * 32)
    return {"model_version": label, "artifacts": [artifact], "format": fmt, "globals": []}


def read(fn: FunctionView, target: int = 1, **kw: object) -> TargetRead:
    sizes = {a: LayerSize(1000) for a in (*fn.layers.arns, arn(LAYER, target))}
    fields: dict = dict(
        function=fn, target=views(target)[0], manifest=manifest(f"v{target}"), sizes=sizes
    )
    return TargetRead(**{**fields, **kw})


def test_version_n_is_chosen_when_it_exists_and_refused_with_the_list_when_not():
    assert choose_target(req(version=2), views(1, 2, 3), 3).arn == arn(LAYER, 2)
    with pytest.raises(NotFoundError, match="has no version 7") as missing:
        choose_target(req(version=7), views(1, 2, 3), 3)
    assert missing.value.hint == "Versions that exist: 1, 2, 3."
    with pytest.raises(NotFoundError, match="has no versions"):
        choose_target(req(version=1), (), None)


def test_a_pruned_version_is_said_to_be_pruned():
    record = {"label": "v2", "pruned_at": "2026-12-01T00:00:00Z"}
    with pytest.raises(NotFoundError) as pruned:
        choose_target(req(version=2), views(1, 3), 3, record)
    assert "version 2 (v2) was pruned by `mlayer prune` on 2026-12-01" in pruned.value.message
    assert (
        pruned.value.hint.endswith("pick one that exists: 1, 3.") and pruned.value.code == "Pruned"
    )


def test_previous_is_the_newest_older_than_the_live_one():
    assert choose_target(req(version=None), views(1, 2, 4, 5), 4).version == 2
    with pytest.raises(PlanError, match="no model layer"):
        choose_target(req(version=None), views(1, 2), None)
    with pytest.raises(PlanError, match="oldest"):
        choose_target(req(version=None), views(1, 2), 1)


def test_the_live_version_is_the_model_layers_of_this_account():
    layers = FunctionLayers((DEPS, arn(LAYER, 1, "999999999999"), arn(LAYER, 4)))
    assert live_version(layers, views(3, 4)) == 4
    assert live_version(FunctionLayers((DEPS,)), views(1)) is None
    assert live_version(layers, ()) is None


def test_a_version_without_a_manifest_or_with_missing_objects_is_refused():
    fn = function(DEPS, arn(LAYER, 2))
    with pytest.raises(ModelError, match="has no mlayer manifest in s3://bkt"):
        plan_rollback(req(), 2, read(fn, manifest=None))
    with pytest.raises(ModelError, match="which is missing: every cold start would fail"):
        plan_rollback(req(), 2, read(fn, missing=("s3://bkt/models/x",)))


def test_the_deps_lock_is_checked_as_a_publish_is():
    fn = function(DEPS, arn(LAYER, 2))
    with pytest.raises(ModelError, match="No dependencies-layer lock found"):
        plan_rollback(req(allow_version_mismatch=False), 2, read(fn))


def test_onnx_needs_a_runtime_that_loads_it():
    fn = function(DEPS, arn(LAYER, 2), runtime="python3.11")
    with pytest.raises(OnnxUnavailableError):
        plan_rollback(req(), 2, read(fn, manifest=manifest(fmt="onnx")))


def test_a_relink_to_an_older_version_in_place():
    fn = function(DEPS, arn(LAYER, 2))
    plan = plan_rollback(req(), 2, read(fn))
    assert plan.relink.after == (DEPS, arn(LAYER, 1)) and not plan.noop
    assert (plan.from_version, plan.to_version, plan.label, plan.store) == (2, 1, "v1", "layer")
    assert plan.question(None) == f"Relink {FN} from model layer version 2 to 1?"
    assert plan.question("live").endswith("to 1 and move alias live?")


def test_the_live_version_again_is_a_noop_unless_the_alias_is_behind():
    fn = function(DEPS, arn(LAYER, 1))
    assert plan_rollback(req(), 1, read(fn)).noop
    behind = plan_rollback(req(alias="live"), 1, read(fn, alias_layers=(arn(LAYER, 3),)))
    assert not behind.noop and behind.alias_version == 3 and behind.alias_behind
    assert behind.question("live") == f"Move alias live of {FN} to model layer version 1?"
    along = plan_rollback(req(alias="live"), 1, read(fn, alias_layers=(arn(LAYER, 1),)))
    assert along.noop and along.alias_version == 1


def test_a_running_rollout_is_aborted_even_when_the_alias_is_on_the_target():
    fn = function(DEPS, arn(LAYER, 1))
    said = "The rollout of version 2 on live (at 10%) is aborted: ..."
    plan = plan_rollback(
        req(alias="live"), 1, read(fn, alias_layers=(arn(LAYER, 1),), rollout=said)
    )
    assert plan.alias_behind and not plan.noop and plan.warnings[-1] == said


def test_s3_artifacts_grow_tmp_which_alone_makes_a_rollback_do_something():
    fn = function(DEPS, arn(LAYER, 1), tmp=512, memory=256)
    big = manifest(size=900 * MB, store="s3")
    plan = plan_rollback(req(), 1, read(fn, manifest=big))
    assert not plan.relink.changed and plan.ephemeral.changes and not plan.noop
    assert plan.store == "s3" and any("over half" in w for w in plan.warnings)


def test_artifacts_beyond_lambdas_largest_tmp_are_refused():
    fn = function(DEPS, arn(LAYER, 1))
    with pytest.raises(BudgetError, match="ephemeral storage"):
        plan_rollback(req(), 1, read(fn, manifest=manifest(size=10_000 * MB, store="s3")))


@given(
    numbers=st.sets(st.integers(1, 30), min_size=1, max_size=12),
    live=st.one_of(st.none(), st.integers(1, 30)),
)
def test_previous_property(numbers, live):
    """--previous: the newest version below the live one, or a PlanError when there is none."""
    older = [n for n in numbers if live is not None and n < live]
    try:
        chosen = choose_target(req(version=None), views(*numbers), live)
    except PlanError:
        assert not older
        return
    assert chosen.version == max(older)


def test_the_plan_is_a_value():
    fn = function(DEPS, arn(LAYER, 2))
    first = plan_rollback(req(), 2, read(fn))
    assert first == plan_rollback(req(), 2, read(fn))
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.label = "x"  # type: ignore[misc]
