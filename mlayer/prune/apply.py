"""Apply a prune plan, in the stated order, each failure naming the state it left.

1. function versions (none an alias points to: mlayer's own guard, re-read right before, since
   the embedded AWS lets a version an alias points to be deleted where AWS answers 409);
2. the model layer versions only they held (re-checked against $LATEST and every remaining
   function version first), each recorded under pruned/ before it is deleted;
3. (--deps) dependencies layer versions, checked the same way;
4. the artifact objects no remaining version names; then the pending records are cleared.

Every state between two steps is one a re-run completes: nothing deleted is named by a function,
an alias or a layer version that remains, and whatever was half done is found again by the read.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass, field

from mlayer.arns import LayerVersionArn
from mlayer.errors import AwsError
from mlayer.gateway import Gateway
from mlayer.prune.read import marker_key, pending_key
from mlayer.prune.verdicts import Item, PrunePlan
from mlayer.results.report import human_bytes, short

LOST_ANSWER = {"ReadTimeoutError", "ConnectionClosedError", "ResponseStreamingError"}


@dataclass
class PruneOutcome:
    """What the apply did: the items deleted (in order), and those it left on a late guard."""

    deleted: list[Item] = field(default_factory=list)
    skipped: list[tuple[Item, str]] = field(default_factory=list)

    @property
    def bytes_freed(self) -> int:
        return sum(item.size for item in self.deleted)

    def to_dict(self) -> dict:
        return {
            "deleted": [i.to_dict() for i in self.deleted],
            "skipped": [{**i.to_dict(), "why": why} for i, why in self.skipped],
            "bytes_freed": self.bytes_freed,
            "complete": not self.skipped,
        }


class PruneIncompleteError(AwsError):
    """A prune stopped part-way: ``stage`` names the step, ``deleted`` what went before it."""

    def __init__(self, message: str, hint: str, code: str, stage: str, deleted: list[str]):
        super().__init__(message, hint, code)
        self.stage = stage
        self.deleted = deleted

    def to_dict(self) -> dict:
        return {**super().to_dict(), "stage": self.stage, "deleted": self.deleted}


_STATES = {
    "function_versions": "Only function versions nothing points at were deleted; every alias, "
    "$LATEST and every layer version are as they were.",
    "model_layer_versions": "The function versions are pruned; the model layer versions deleted "
    "so far were carried by no remaining function version, alias or $LATEST.",
    "deps_layer_versions": "The function and model layer versions are pruned; the dependencies "
    "layer versions deleted so far were carried by nothing that remains.",
    "objects": "Every planned version is pruned; the objects deleted so far were named by no "
    "remaining version.",
    "records": "Everything planned is deleted; only bookkeeping under pruned/ is left.",
}


def _failed(stage: str, item: Item, exc: AwsError, outcome: PruneOutcome) -> PruneIncompleteError:
    lost = exc.code in LOST_ANSWER
    maybe = (
        f" The answer was lost: {item.kind.replace('_', ' ')} {item.name} may be deleted already."
        if lost
        else ""
    )
    done = [i.name for i in outcome.deleted]
    return PruneIncompleteError(
        f"Prune stopped at {item.kind.replace('_', ' ')} {item.name}: {exc.message} "
        f"{len(done)} item(s) were deleted ({human_bytes(outcome.bytes_freed)}). "
        f"{_STATES[stage]}{maybe}",
        "Run `mlayer prune` again: it reads everything afresh and finishes what is left.",
        exc.code,
        stage,
        done,
    )


def _on_alias(gw: Gateway, function: str) -> dict[int, str]:
    """Function version -> the alias that points or routes to it, read now."""
    out: dict[int, str] = {}
    for alias in gw.alias_views(function):
        for q in (alias.version, *alias.weights):
            if q.isdigit():
                out.setdefault(int(q), alias.name)
    return out


def _carried(gw: Gateway, function: str, layer: str, now: _dt.datetime) -> set[int]:
    """Versions of ``layer`` that $LATEST or any function version carries, read now."""
    arns = list(gw.latest_layers(function))
    for v in gw.function_version_views(function, now):
        arns += v.layers
    return {p.version for a in arns if (p := LayerVersionArn.try_parse(a)) and p.name == layer}


class _Steps:
    """One apply's deletions in order: each announced, done, then counted; a failure raised
    as the state it left (what went before it, and what a re-run finishes)."""

    def __init__(self, progress: Callable[[str], None] | None) -> None:
        self.say = progress or (lambda line: None)
        self.outcome = PruneOutcome()

    def step(self, stage: str, item: Item, action: Callable[[], object]) -> None:
        self.say(f"Deleting {item.kind.replace('_', ' ')} {short(item.name)}")
        try:
            action()
        except AwsError as exc:
            raise _failed(stage, item, exc, self.outcome) from exc
        self.outcome.deleted.append(item)

    def skip(self, item: Item, why: str) -> None:
        self.outcome.skipped.append((item, why))


def apply_prune(
    gw: Gateway,
    bucket: str,
    plan: PrunePlan,
    *,
    now: _dt.datetime,
    progress: Callable[[str], None] | None = None,
) -> PruneOutcome:
    """Delete what the plan says goes, guarded by a fresh read before each kind."""
    steps = _Steps(progress)
    _function_versions(gw, plan, steps)
    layer_stages = (
        ("model_layer_versions", plan.model_layer, plan.model_versions),
        ("deps_layer_versions", plan.deps_layer, plan.deps_versions),
    )
    for stage, layer, items in layer_stages:
        _layer_versions(gw, bucket, plan, (stage, layer, items), now, steps)
    if steps.outcome.skipped:  # a late guard held something back: its objects may be needed
        return steps.outcome
    for item in plan.objects:
        steps.step("objects", item, lambda key=item.name: gw.delete_object(bucket, key))
    _clear_records(gw, bucket, plan, steps.outcome)
    return steps.outcome


def _function_versions(gw: Gateway, plan: PrunePlan, steps: _Steps) -> None:
    """The planned function versions, but none an alias points or routes to now (re-read:
    the embedded AWS would delete it where AWS refuses)."""
    if not plan.function_versions:
        return
    pointed = _on_alias(gw, plan.function)
    for item in plan.function_versions:
        if item.version in pointed:
            steps.skip(item, f"alias {pointed[item.version]} points to it now")
            continue
        steps.step(
            "function_versions",
            item,
            lambda v=item.version: gw.delete_function_version(plan.function, v),
        )


def _layer_versions(
    gw: Gateway,
    bucket: str,
    plan: PrunePlan,
    stage: tuple[str, str, tuple[Item, ...]],
    now: _dt.datetime,
    steps: _Steps,
) -> None:
    """One layer's planned versions (``stage``: its name, the layer, the items), but none
    $LATEST or a remaining function version carries now; a model version recorded first."""
    name, layer, items = stage
    if not items:
        return
    carried = _carried(gw, plan.function, layer, now)
    for item in items:
        if item.version in carried:
            steps.skip(item, "a function version or $LATEST carries it now")
            continue
        record = plan.markers.get(item.version) if name == "model_layer_versions" else None
        steps.step(
            name,
            item,
            lambda v=item.version, r=record: _delete_layer_version(gw, bucket, layer, v, r),
        )


def _delete_layer_version(
    gw: Gateway, bucket: str, layer: str, version: int, record: dict | None
) -> None:
    """The layer version deleted; a model one recorded under pruned/ first, so a lost answer
    still leaves its record (and its pending mark, for the re-run)."""
    if record is not None:
        gw.put_json(bucket, marker_key(layer, version), record)
        gw.put_json(bucket, pending_key(layer, version), record)
    gw.delete_layer_version(layer, version)


def _clear_records(gw: Gateway, bucket: str, plan: PrunePlan, outcome: PruneOutcome) -> None:
    """Last, the bookkeeping: the pending marks of this prune and of earlier finished ones, and
    both records of a version an interrupted prune recorded but left."""
    layer = plan.model_layer
    records = [pending_key(layer, v) for v in sorted({*plan.markers, *plan.finished_records})]
    for v in plan.stale_records:  # recorded, then not deleted: the version is still there
        records += [pending_key(layer, v), marker_key(layer, v)]
    for key in records:
        try:
            gw.delete_object(bucket, key)
        except AwsError as exc:
            raise _failed("records", Item("object", key, 0), exc, outcome) from exc
