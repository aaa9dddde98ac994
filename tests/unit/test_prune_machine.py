"""A hypothesis state machine over publish / rollback / set-weight / prune on an in-memory
account, planned by the real (pure) prune_plan: after any sequence every alias, $LATEST and
every remaining function version name things that exist, and `rollback --previous` still picks
what it picked before the prune. (tests/functional/test_prune_machine_cli.py runs a shorter machine
on the embedded AWS through the CLI.)"""

from __future__ import annotations

import datetime as _dt

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from mlayer.prune.plan import plan_prune
from mlayer.prune.types import (
    AliasView,
    FunctionVersionView,
    Inventory,
    LayerVersionView,
    ModelRefs,
)

START = _dt.datetime(2026, 1, 1, tzinfo=_dt.timezone.utc)
FN, MODEL, DEPS = "fn", "fn-model", "fn-deps"


def arn(n: int) -> str:
    return f"arn:aws:lambda:us-east-1:123456789012:layer:{MODEL}:{n}"


class Account:
    """Lambda as far as prune sees it: model layer versions, function versions, one alias."""

    def __init__(self) -> None:
        self.now = START
        self.models: dict[int, _dt.datetime] = {}  # model layer version -> created
        self.versions: dict[int, tuple[int, _dt.datetime]] = {}  # fn version -> (model, made)
        self.latest: int | None = None
        self.alias: str | None = None
        self.weights: dict[str, float] = {}
        self.objects: dict[str, int] = {}
        self.next_model = self.next_version = 1

    def relink(self, model: int) -> None:
        """$LATEST takes ``model``; the alias moves to a version carrying it (reused if any)."""
        self.latest = model
        same = [v for v, (m, _) in self.versions.items() if m == model]
        if same:
            version = max(same)
        else:
            version = self.next_version
            self.next_version += 1
            self.versions[version] = (model, self.now)
        self.alias = str(version)
        self.weights.pop(self.alias, None)

    def publish(self) -> None:
        n = self.next_model
        self.next_model += 1
        self.models[n] = self.now
        self.objects[f"layers/z{n}.zip"] = 100 + n
        self.objects[f"layers/z{n}.manifest.json"] = 10
        self.relink(n)

    def inventory(self) -> Inventory:
        return Inventory(
            function=FN,
            model_layer=MODEL,
            deps_layer=DEPS,
            latest_layers=(arn(self.latest),) if self.latest else (),
            versions=tuple(
                FunctionVersionView(v, 10, made, (arn(m),))
                for v, (m, made) in sorted(self.versions.items())
            ),
            aliases=(AliasView("live", self.alias, dict(self.weights)),) if self.alias else (),
            provisioned=(),
            mapped=(),
            model_versions=tuple(
                LayerVersionView(MODEL, n, arn(n), 100 + n, made, f"z{n}")
                for n, made in sorted(self.models.items())
            ),
            deps_versions=(),
            model_refs={n: ModelRefs(f"v{n}") for n in self.models},
            objects=dict(self.objects),
        )


class PruneMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.aws = Account()

    @rule(days=st.integers(0, 5))
    def publish(self, days):
        self.aws.now += _dt.timedelta(days=days)
        self.aws.publish()

    @precondition(lambda self: len(self.aws.models) > 1)
    @rule(data=st.data())
    def rollback(self, data):
        target = data.draw(st.sampled_from(sorted(self.aws.models)))
        self.aws.relink(target)

    @precondition(lambda self: len(self.aws.versions) > 1)
    @rule(data=st.data(), weight=st.floats(0.01, 0.5))
    def set_weight(self, data, weight):
        others = sorted(str(v) for v in self.aws.versions if str(v) != self.aws.alias)
        self.aws.weights = {data.draw(st.sampled_from(others)): weight}

    @rule(keep=st.integers(1, 4), days=st.integers(0, 10))
    def prune(self, keep, days):
        aws = self.aws
        live = aws.latest
        older = [n for n in aws.models if live is not None and n < live]
        previous = max(older) if older else None
        plan = plan_prune(aws.inventory(), keep=keep, older_than_days=days, now=aws.now)
        for item in plan.function_versions:  # the order of prune_apply
            del aws.versions[item.version]
        for item in plan.model_versions:
            del aws.models[item.version]
        for item in plan.objects:
            del aws.objects[item.name]
        newest = sorted(aws.models)[-keep:]
        assert all(n in aws.models for n in newest)
        if previous is not None:  # `rollback --previous` still picks the same version
            assert max(n for n in aws.models if n < live) == previous
        assert plan_prune(aws.inventory(), keep=keep, older_than_days=days, now=aws.now).empty

    @invariant()
    def everything_resolves(self):
        aws = self.aws
        if aws.alias is not None:
            assert int(aws.alias) in aws.versions
            assert all(int(v) in aws.versions for v in aws.weights)
        if aws.latest is not None:
            assert aws.latest in aws.models
        for model, _ in aws.versions.values():
            assert model in aws.models
        for n in aws.models:  # every remaining version keeps its zip and manifest
            assert f"layers/z{n}.zip" in aws.objects and f"layers/z{n}.manifest.json" in aws.objects


PruneMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)
TestPruneMachine = PruneMachine.TestCase
