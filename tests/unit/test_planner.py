"""The layer-list rules of a relink, exhaustively: order, replacement, limits, budget."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlayer.errors import BudgetError, PlanError
from mlayer.publishing import planner
from mlayer.publishing.models import FunctionLayers, LayerSize

MODEL = "m-model"


def arn(name: str, version: int = 1) -> str:
    return f"arn:aws:lambda:us-east-1:123456789012:layer:{name}:{version}"


def sizes_for(*arns: str, each: int = 1000) -> dict[str, LayerSize]:
    return {a: LayerSize(each) for a in arns}


def plan(current, new, sizes=None, code=0, **kw):
    layers = FunctionLayers(tuple(current), code)
    return planner.plan_relink("f", layers, MODEL, new, sizes or sizes_for(*current, new), **kw)


def test_absent_model_layer_is_appended():
    p = plan([arn("deps")], arn(MODEL, 1))
    assert p.after == (arn("deps"), arn(MODEL, 1)) and p.old_arn is None and p.changed


def test_model_layer_is_replaced_in_place():
    current = [arn("a"), arn(MODEL, 2), arn("deps")]
    p = plan(current, arn(MODEL, 3))
    assert p.after == (arn("a"), arn(MODEL, 3), arn("deps"))
    assert p.old_arn == arn(MODEL, 2) and p.new_arn == arn(MODEL, 3)
    assert p.before == tuple(current)


def test_same_version_is_no_change():
    p = plan([arn("deps"), arn(MODEL, 2)], arn(MODEL, 2))
    assert not p.changed


def test_a_layer_whose_name_only_contains_the_model_name_is_not_it():
    p = plan([arn(MODEL + "-old", 1)], arn(MODEL, 1))
    assert p.after == (arn(MODEL + "-old", 1), arn(MODEL, 1))


def test_sixth_layer_is_refused_but_replacing_among_five_is_fine():
    five = [arn(f"l{i}") for i in range(5)]
    with pytest.raises(BudgetError, match="Lambda allows 5"):
        plan(five, arn(MODEL, 1))
    four_and_model = [arn(f"l{i}") for i in range(4)] + [arn(MODEL, 1)]
    assert len(plan(four_and_model, arn(MODEL, 2)).after) == 5


def test_two_versions_of_the_model_layer_is_a_plan_error():
    with pytest.raises(PlanError, match="2 versions"):
        plan([arn(MODEL, 1), arn(MODEL, 2)], arn(MODEL, 3))


def test_target_must_be_the_model_layer():
    with pytest.raises(PlanError, match="not a version of the model layer"):
        plan([], arn("other", 1))


def test_budget_counts_code_and_every_layer_after_the_swap():
    old, new = arn(MODEL, 1), arn(MODEL, 2)
    sizes = {
        arn("deps"): LayerSize(200_000_000),
        old: LayerSize(60_000_000),
        new: LayerSize(62_144_000),
    }
    p = plan([arn("deps"), old], new, sizes)  # the old version's size no longer counts
    assert p.total_unzipped == 262_144_000 and p.budget_left == 0
    with pytest.raises(BudgetError, match="unzipped"):
        plan([arn("deps"), old], new, sizes, code=1)


def test_budget_error_speaks_lambdas_mb_like_status():
    sizes = {arn("deps"): LayerSize(200 * 1024 * 1024), arn(MODEL, 1): LayerSize(60 * 1024 * 1024)}
    with pytest.raises(BudgetError) as err:
        plan([arn("deps")], arn(MODEL, 1), sizes)
    assert "would be 260.0 MB unzipped; Lambda allows 250.0 MB" in err.value.message


def test_inexact_sizes_are_flagged():
    sizes = {arn("x"): LayerSize(10, exact=False), arn(MODEL, 1): LayerSize(10)}
    assert not plan([arn("x")], arn(MODEL, 1), sizes).sizes_exact
    assert (
        plan([], arn(MODEL, 1), {arn(MODEL, 1): LayerSize(1)}).sizes_exact is False
    )  # code size unknown
    exact = planner.plan_relink(
        "f",
        FunctionLayers(()),
        MODEL,
        arn(MODEL, 1),
        {arn(MODEL, 1): LayerSize(1)},
        function_size=LayerSize(5),
    )
    assert exact.sizes_exact and exact.total_unzipped == 6


def test_missing_size_is_a_bug_not_a_guess():
    with pytest.raises(PlanError, match="No size"):
        plan([arn("deps")], arn(MODEL, 1), {arn(MODEL, 1): LayerSize(1)})


def test_previous_version():
    assert planner.previous_version([1, 2, 5], 5) == 2
    assert planner.previous_version([1, 3, 4], 3) == 1
    with pytest.raises(PlanError, match="oldest"):
        planner.previous_version([1, 2], 1)
    with pytest.raises(PlanError, match="no model layer"):
        planner.previous_version([1, 2], None)


def test_rollback_to_an_older_version_uses_the_same_rules():
    layers = FunctionLayers((arn("deps"), arn(MODEL, 3)))
    p = planner.plan_relink(
        "f", layers, MODEL, arn(MODEL, 1), sizes_for(arn("deps"), arn(MODEL, 3), arn(MODEL, 1))
    )
    assert p.after == (arn("deps"), arn(MODEL, 1))


names = st.sampled_from(["a", "b", "c", "deps", "tools", "x-y"])


@given(
    others=st.lists(names, unique=True, max_size=5),
    model_at=st.one_of(st.none(), st.integers(0, 5)),
    old=st.integers(1, 50),
    new=st.integers(1, 50),
)
def test_properties(others, model_at, old, new):
    current = [arn(n) for n in others]
    if model_at is not None:
        current.insert(min(model_at, len(current)), arn(MODEL, old))
    target = arn(MODEL, new)
    sizes = sizes_for(*current, target)
    expect_refusal = len(current) + (model_at is None) > 5
    try:
        p = plan(current, target, sizes)
    except BudgetError:
        assert len(current) + (model_at is None) > 5  # refused exactly when the result has 6+
        return
    # every other layer is kept, in its order
    assert [a for a in p.after if MODEL not in a] == [a for a in current if MODEL not in a]
    # exactly one model layer, the target, at the old one's position (or last)
    assert [a for a in p.after if f":{MODEL}:" in a] == [target]
    assert p.after.index(target) == (
        current.index(arn(MODEL, old)) if model_at is not None else len(current)
    )
    assert not expect_refusal and len(p.after) <= 5
    assert p.changed == (model_at is None or old != new)
    assert p.total_unzipped == 1000 * len(p.after)


@given(
    others=st.lists(st.integers(0, 120_000_000), max_size=4),
    old_size=st.integers(0, 100_000_000),
    new_size=st.integers(0, 100_000_000),
    code=st.integers(0, 10_000_000),
    has_model=st.booleans(),
)
def test_budget_property(others, old_size, new_size, code, has_model):
    """Refused exactly when code + every layer after the swap (not the old model) passes 250 MB."""
    current = [arn(f"o{i}") for i in range(len(others))]
    sizes = {a: LayerSize(s) for a, s in zip(current, others, strict=True)}
    if has_model:
        current.append(arn(MODEL, 1))
        sizes[arn(MODEL, 1)] = LayerSize(old_size)
    sizes[arn(MODEL, 2)] = LayerSize(new_size)
    total = code + sum(others) + new_size
    try:
        p = planner.plan_relink(
            "f",
            FunctionLayers(tuple(current)),
            MODEL,
            arn(MODEL, 2),
            sizes,
            function_size=LayerSize(code),
        )
    except BudgetError as exc:
        assert total > 262_144_000 and "unzipped" in exc.message
        return
    assert total <= 262_144_000 and p.total_unzipped == total
    assert p.budget_left == 262_144_000 - total and p.sizes_exact


def test_foreign_arns_that_are_not_layer_versions_are_kept():
    """A layer ARN mlayer cannot parse (another partition's shape) is someone else's: kept in place."""
    odd = "arn:aws:lambda:us-east-1:123456789012:layer:odd"  # no version: never the model layer
    p = plan(
        [odd, arn("deps")],
        arn(MODEL, 1),
        {**sizes_for(arn("deps"), arn(MODEL, 1)), odd: LayerSize(1)},
    )
    assert p.after == (odd, arn("deps"), arn(MODEL, 1))
