"""prune_plan (pure): every protection reason, one by one, and what goes with the versions."""

from __future__ import annotations

import datetime as _dt

import pytest

from mlayer.prune.plan import plan_prune
from mlayer.prune.types import (
    AliasView,
    FunctionVersionView,
    Inventory,
    LayerVersionView,
    ModelRefs,
)
from mlayer.prune.verdicts import REASONS

NOW = _dt.datetime(2026, 12, 7, tzinfo=_dt.timezone.utc)
OLD = NOW - _dt.timedelta(days=100)
FN, MODEL, DEPS = "fn", "fn-model", "fn-deps"


def layer_arn(name: str, n: int) -> str:
    return f"arn:aws:lambda:us-east-1:123456789012:layer:{name}:{n}"


def account(n: int = 6, **changes) -> dict:
    """n model versions (sha m<i>), function version i carrying model version i, all old;
    $LATEST carries model n and deps 1; alias `live` on function version n."""
    fields = dict(
        function=FN,
        model_layer=MODEL,
        deps_layer=DEPS,
        latest_layers=(layer_arn(DEPS, 2), layer_arn(MODEL, n)),
        versions=tuple(
            FunctionVersionView(
                i, 100, OLD, (layer_arn(DEPS, 1 if i < n else 2), layer_arn(MODEL, i))
            )
            for i in range(1, n + 1)
        ),
        aliases=(AliasView("live", str(n)),),
        provisioned=(),
        mapped=(),
        model_versions=tuple(
            LayerVersionView(MODEL, i, layer_arn(MODEL, i), 1000, OLD, f"m{i}")
            for i in range(1, n + 1)
        ),
        deps_versions=tuple(
            LayerVersionView(DEPS, i, layer_arn(DEPS, i), 50_000, OLD, f"d{i}") for i in (1, 2)
        ),
        model_refs={i: ModelRefs(f"v{i}", (f"models/s{i}",)) for i in range(1, n + 1)},
        objects={
            **{f"layers/m{i}.zip": 1000 for i in range(1, n + 1)},
            **{f"layers/m{i}.manifest.json": 10 for i in range(1, n + 1)},
            **{f"labels/{MODEL}/v{i}.json": 1 for i in range(1, n + 1)},
            **{f"models/s{i}": 7 for i in range(1, n + 1)},
            "layers/d1.zip": 50_000,
            "layers/d1.lock.json": 5,
            "layers/d2.zip": 50_000,
            "layers/d2.lock.json": 5,
        },
    )
    fields.update(changes)
    return fields


def plan(keep: int = 1, days: int = 14, deps: bool = False, **changes):
    return plan_prune(
        Inventory(**account(**changes)), keep=keep, older_than_days=days, now=NOW, deps=deps
    )


def names(items) -> set[str]:
    return {i.name for i in items}


def reasons(p, name: str) -> set[str]:
    return {r.code for i in p.kept if i.name == name for r in i.reasons}


def test_the_baseline_keeps_only_what_the_alias_latest_and_previous_need():
    p = plan()
    assert names(p.function_versions) == {"1", "2", "3", "4", "5"}
    assert names(p.model_versions) == {f"{MODEL}:{i}" for i in (1, 2, 3, 4)}
    assert reasons(p, "6") == {"alias", "newest"}
    assert reasons(p, f"{MODEL}:6") == {"latest", "carried", "newest"}
    assert reasons(p, f"{MODEL}:5") == {"previous"}
    assert p.deps_versions == ()  # without --deps the dependencies layer is never touched
    gone_objects = names(p.objects)
    assert "layers/m1.zip" in gone_objects and "models/s1" in gone_objects
    assert f"labels/{MODEL}/v1.json" in gone_objects and "layers/m1.manifest.json" in gone_objects
    assert not any("m5" in k or "m6" in k or "d1" in k for k in gone_objects)
    assert p.bytes_freed == 5 * 100 + 4 * 1000 + 4 * (1000 + 10 + 1 + 7)
    assert set(p.markers) == {1, 2, 3, 4}


# Each reason: the account with it, and the item it must keep. Without it that item goes.
CASES = {
    "alias": (dict(aliases=(AliasView("live", "6"), AliasView("old", "2"))), "2"),
    "canary": (dict(aliases=(AliasView("live", "6", {"3": 0.1}),)), "3"),
    "provisioned": (dict(provisioned=("2",)), "2"),
    "event_source": (dict(mapped=("3",)), "3"),
    "rollout": (dict(rollout_versions=frozenset({"2"})), "2"),
    "shadow": (dict(shadow_layers=frozenset({layer_arn(MODEL, 2)})), f"{MODEL}:2"),
    "newest": ({}, "5"),  # keep=2 below
    "young": ({}, "4"),  # made young below
    "latest": (dict(latest_layers=(layer_arn(MODEL, 3),)), f"{MODEL}:3"),
    "carried": (dict(aliases=(AliasView("live", "6"), AliasView("b", "3"))), f"{MODEL}:3"),
    "previous": ({}, f"{MODEL}:5"),
    "shared": ({}, "models/s1"),
}


def _with(code: str) -> dict:
    changes, _ = CASES[code]
    changes = dict(changes)
    if code == "newest":
        changes["keep"] = 2
    if code == "young":
        base = account()
        changes["versions"] = tuple(
            v if v.version != 4 else FunctionVersionView(4, 100, NOW, v.layers)
            for v in base["versions"]
        )
    if code == "shared":  # model 6 (kept) uses the same S3 object as model 1 (gone)
        refs = dict(account()["model_refs"])
        refs[6] = ModelRefs("v6", ("models/s1",))
        changes["model_refs"] = refs
    return changes


@pytest.mark.parametrize("code", REASONS)
def test_each_reason_keeps_its_item_and_says_so(code):
    changes = _with(code)
    keep = changes.pop("keep", 1)
    name = CASES[code][1]
    p = plan(keep=keep, **changes)
    assert code in reasons(p, name), p.kept
    assert name not in names(p.goes)


def test_every_reason_has_a_case():
    assert set(CASES) == set(REASONS)


@pytest.mark.parametrize("code", ["alias", "canary", "provisioned", "event_source", "rollout"])
def test_a_protected_function_version_keeps_the_model_version_it_carries(code):
    p = plan(**_with(code))
    kept_version = CASES[code][1]
    assert reasons(p, f"{MODEL}:{kept_version}") >= {"carried"}


def test_provisioned_or_mapped_alias_protects_what_the_alias_routes_to():
    aliases = (AliasView("live", "6"), AliasView("warm", "2", {"3": 0.5}))
    p = plan(aliases=aliases, provisioned=("warm",), mapped=("warm",))
    assert {"alias", "provisioned", "event_source"} <= reasons(p, "2")
    assert {"canary", "provisioned", "event_source"} <= reasons(p, "3")


def test_older_than_and_newest_must_both_fail_for_a_version_to_go():
    assert plan(keep=10).empty is True
    young = plan(days=1000)
    assert young.empty and reasons(young, "1") == {"young"}


def test_deps_versions_go_only_with_deps_and_when_nothing_carries_them():
    p = plan(deps=True)
    assert names(p.deps_versions) == {f"{DEPS}:1"}  # versions 1..5 that carried it go too
    assert "layers/d1.zip" in names(p.objects) and "layers/d2.zip" not in names(p.objects)
    kept = plan(deps=True, aliases=(AliasView("live", "6", {"2": 0.2}),))
    assert kept.deps_versions == () and "carried" in reasons(kept, f"{DEPS}:1")


def test_an_earlier_prunes_pending_objects_are_finished_and_stale_records_cleared():
    base = account()
    pending = {3: {"version": 3, "sha256": "m3", "label": "v3", "s3_keys": ["models/s3"]}}
    without_3 = tuple(v for v in base["model_versions"] if v.version != 3)
    p = plan(model_versions=without_3, pruned=pending, keep=10)
    assert names(p.objects) == {
        "layers/m3.zip",
        "layers/m3.manifest.json",
        f"labels/{MODEL}/v3.json",
        "models/s3",
    }
    assert p.finished_records == (3,) and p.markers == {}
    kept_6 = plan(pruned={6: {"version": 6, "sha256": "m6"}})
    assert kept_6.stale_records == (6,) and "layers/m6.zip" not in names(kept_6.objects)


def test_a_finished_rollout_or_unknown_alias_qualifier_protects_nothing_extra():
    p = plan(provisioned=("nope",), mapped=("", "$LATEST"))
    assert names(p.function_versions) == {"1", "2", "3", "4", "5"}


def test_state_documents_are_read_whatever_their_shape():
    from mlayer.arns import LayerVersionArn
    from mlayer.prune.read import named_in

    model = LayerVersionArn.parse(layer_arn(MODEL, 1))
    doc = {
        "schema_version": 1,
        "status": "running",
        "old_version": "9",
        "new_version": 10,
        "steps": [{"function_arn": f"arn:aws:lambda:us-east-1:1:function:{FN}:12"}],
        "candidate": {"model_layer_version": 4, "arn": layer_arn(MODEL, 5)},
    }
    versions, layers = named_in(doc, FN, model)
    assert versions == {"9", "10", "12"}
    assert layers == {layer_arn(MODEL, 4), layer_arn(MODEL, 5)}
    assert named_in({**doc, "status": "aborted"}, FN, model) == (set(), set())
    assert named_in(["not", "a", "state"], FN, model) == (set(), set())


def test_objects_another_layer_names_stay():
    """The default bucket is shared by the account's functions: same zip, same models/<sha>."""
    elsewhere = {"models/s1": "b-model:3", "layers/m2.zip": "b-model:4"}
    p = plan(elsewhere=elsewhere)
    assert "models/s1" not in names(p.objects) and "layers/m2.zip" not in names(p.objects)
    assert reasons(p, "models/s1") == {"shared"} and reasons(p, "layers/m2.zip") == {"shared"}
    assert "layers/m2.manifest.json" in names(p.objects)


def test_a_kept_version_whose_manifest_is_unread_keeps_every_s3_object():
    refs = dict(account()["model_refs"])
    refs[6] = ModelRefs(known=False)
    p = plan(model_refs=refs)
    assert not any(k.startswith("models/") for k in names(p.objects))
    assert "layers/m1.zip" in names(p.objects)
    assert reasons(p, "models/s1") == {"shared"}


def test_objects_an_environment_names_stay():
    """A shadow's candidate zip is named by the function's environment (s3://bucket/key)."""
    base = account()
    versions = tuple(
        v if v.version != 6 else FunctionVersionView(6, 100, OLD, v.layers, ("bkt/layers/m2.zip",))
        for v in base["versions"]
    )
    p = plan(versions=versions, bucket="bkt", latest_refs=("bkt/models/s1", "other/layers/m3.zip"))
    assert reasons(p, "layers/m2.zip") == {"shared"} and reasons(p, "models/s1") == {"shared"}
    assert "layers/m3.zip" in names(p.objects)  # another bucket's key protects nothing here
    texts = {r.text for i in p.kept for r in i.reasons if i.name == "layers/m2.zip"}
    assert texts == {"function version 6 (its environment) needs it"}
