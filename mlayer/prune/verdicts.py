"""What prune decides, as values: every item that goes, every item that stays with its reasons.

A deleted layer version can never be attached again, so an item that stays always says why
(``Reason``; the codes are ``REASONS``, which docs/FORMATS.md lists). plan.py and objects.py
build these; apply.py deletes in ``PrunePlan``'s order; results/prune.py renders them.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

FUNCTION_VERSION, MODEL_VERSION, DEPS_VERSION, OBJECT = (
    "function_version",
    "model_layer_version",
    "deps_layer_version",
    "object",
)
# Every reason something stays (docs/FORMATS.md lists them; tests cover each one).
REASONS = (
    "alias",  # an alias's primary version
    "canary",  # a version an alias's AdditionalVersionWeights routes to
    "provisioned",  # provisioned concurrency on the version (or an alias of it)
    "event_source",  # an event-source mapping targets it
    "rollout",  # an active rollout's state names it
    "shadow",  # a shadow's state names it
    "newest",  # among the newest N
    "young",  # younger than older_than_days
    "latest",  # $LATEST carries the layer version
    "carried",  # a function version that stays carries the layer version
    "previous",  # what `rollback --previous` would pick
    "shared",  # an object a layer version that stays needs
)


@dataclass(frozen=True, order=True)
class Reason:
    code: str
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "text": self.text}


@dataclass(frozen=True)
class Item:
    """One function version, layer version or object: what goes (no reasons) or stays (reasons)."""

    kind: str
    name: str  # "7", "mlayer-predict-model:3" or an object key
    size: int
    version: int | None = None
    reasons: tuple[Reason, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = {"kind": self.kind, "name": self.name, "bytes": self.size, "version": self.version}
        if self.reasons:
            out["reasons"] = [r.to_dict() for r in self.reasons]
        return out


@dataclass(frozen=True)
class PrunePlan:
    function: str
    model_layer: str
    deps_layer: str
    keep: int
    older_than_days: int
    cutoff: _dt.datetime
    deps: bool
    function_versions: tuple[Item, ...] = ()  # go, in this order: function versions first,
    model_versions: tuple[Item, ...] = ()  # then the model layer versions only they held,
    deps_versions: tuple[Item, ...] = ()  # (--deps) dependencies layer versions,
    objects: tuple[Item, ...] = ()  # then the objects no remaining version names
    markers: Mapping[int, dict[str, Any]] = field(
        default_factory=dict
    )  # model version -> pruned/ record
    finished_records: tuple[int, ...] = ()  # earlier prunes' pending records this run completes
    stale_records: tuple[int, ...] = ()  # records of versions an interrupted prune left in place
    kept: tuple[Item, ...] = ()

    @property
    def goes(self) -> tuple[Item, ...]:
        return (*self.function_versions, *self.model_versions, *self.deps_versions, *self.objects)

    @property
    def bytes_freed(self) -> int:
        return sum(item.size for item in self.goes)

    @property
    def empty(self) -> bool:
        return not self.goes

    @property
    def records_left(self) -> bool:
        """pending/ records an interrupted prune left: bookkeeping, cleared without asking."""
        return bool(self.finished_records or self.stale_records)
