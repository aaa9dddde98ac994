"""`mlayer prune`'s decisions (pure): what goes, what stays and why, and the bytes freed.

A deleted layer version can never be attached again, so what stays is decided first and every
item that stays says why (``Reason``). A function version goes only when nothing points at it
(an alias, its canary weight, provisioned concurrency, an event-source mapping, a rollout, a
shadow) and it is both outside the newest ``keep`` and older than ``older_than_days``. A model
layer version goes only when, besides that, neither $LATEST nor any remaining function version
carries it, it is not what `rollback --previous` would pick, and no rollout or shadow names it.
Objects in the artifact bucket go only when no remaining layer version names them.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from mlayer.arns import LayerVersionArn
from mlayer.prune.types import Inventory, LayerVersionView, ModelRefs

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

    def to_dict(self) -> dict:
        return {"code": self.code, "text": self.text}


@dataclass(frozen=True)
class Item:
    """One function version, layer version or object: what goes (no reasons) or stays (reasons)."""

    kind: str
    name: str  # "7", "mlayer-predict-model:3" or an object key
    size: int
    version: int | None = None
    reasons: tuple[Reason, ...] = ()

    def to_dict(self) -> dict:
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
    markers: Mapping[int, dict] = field(default_factory=dict)  # model version -> pruned/ record
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


def _versions_of(arns: Iterable[str], layer: str) -> set[int]:
    return {p.version for a in arns if (p := LayerVersionArn.try_parse(a)) and p.name == layer}


def _add(table: dict, key: object, code: str, text: str) -> None:
    table.setdefault(key, set()).add(Reason(code, text))


def _age_and_rank(
    table: dict, items: Iterable[tuple[int, _dt.datetime]], keep: int, cutoff: _dt.datetime, days
) -> None:
    """``newest`` for the top ``keep`` numbers, ``young`` for anything created after ``cutoff``."""
    ordered = sorted(items, key=lambda pair: pair[0], reverse=True)
    for rank, (number, created) in enumerate(ordered):
        if rank < keep:
            _add(table, number, "newest", f"among the newest {keep}")
        if created > cutoff:
            _add(table, number, "young", f"younger than {days} days")


def protect_function_versions(inv: Inventory, keep: int, cutoff: _dt.datetime, days: int) -> dict:
    """Function version -> the reasons it stays (absent: it may go)."""
    table: dict[int, set[Reason]] = {}
    existing = {v.version for v in inv.versions}
    by_alias = {a.name: a for a in inv.aliases}

    def mark(qualifier: str, code: str, text: str) -> None:
        if qualifier.isdigit() and int(qualifier) in existing:
            _add(table, int(qualifier), code, text)
        elif qualifier in by_alias:  # an alias's versions, whatever it routes to
            alias = by_alias[qualifier]
            for q in (alias.version, *alias.weights):
                if q.isdigit() and int(q) in existing:
                    _add(table, int(q), code, f"{text} (via alias {alias.name})")

    for alias in inv.aliases:
        mark(alias.version, "alias", f"alias {alias.name} points to it")
        for q, weight in sorted(alias.weights.items()):
            mark(q, "canary", f"alias {alias.name} routes {weight:.0%} of its traffic to it")
    for q in inv.provisioned:
        mark(q, "provisioned", "provisioned concurrency")
    for q in inv.mapped:
        mark(q, "event_source", "an event-source mapping targets it")
    for q in sorted(inv.rollout_versions):
        mark(q, "rollout", "an active rollout names it")
    for q in sorted(inv.shadow_versions):
        mark(q, "shadow", "the shadow names it")
    _age_and_rank(table, ((v.version, v.last_modified) for v in inv.versions), keep, cutoff, days)
    return table


def protect_layer_versions(
    layer: str,
    versions: Iterable[LayerVersionView],
    inv: Inventory,
    remaining: Iterable,
    keep: int,
    cutoff: _dt.datetime,
    days: int,
    model: bool,
) -> dict:
    """Layer version -> the reasons it stays, given the function versions that remain."""
    versions = tuple(versions)
    table: dict[int, set[Reason]] = {}
    for number in _versions_of(inv.latest_layers, layer):
        _add(table, number, "latest", f"$LATEST of {inv.function} carries it")
    for fv in remaining:
        for number in _versions_of(fv.layers, layer):
            _add(table, number, "carried", f"function version {fv.version} carries it")
    if model:
        numbers = sorted(v.version for v in versions)
        for live in sorted(_versions_of(inv.latest_layers, layer)):
            older = [n for n in numbers if n < live]
            if older:
                _add(table, max(older), "previous", "`rollback --previous` would pick it")
        for number in _versions_of(inv.rollout_layers, layer):
            _add(table, number, "rollout", "an active rollout names it")
        for number in _versions_of(inv.shadow_layers, layer):
            _add(table, number, "shadow", "the shadow names it")
    _age_and_rank(table, ((v.version, v.created) for v in versions), keep, cutoff, days)
    return table


def _model_keys(layer: str, sha: str, refs: ModelRefs) -> list[str]:
    keys = [f"layers/{sha}.zip", f"layers/{sha}.manifest.json"] if sha else []
    if refs.label:
        keys.append(f"labels/{layer}/{refs.label}.json")
    return keys + list(refs.s3_keys)


def _deps_keys(sha: str) -> list[str]:
    return [f"layers/{sha}.zip", f"layers/{sha}.lock.json"] if sha else []


def _env_needs(inv: Inventory, remaining) -> dict[str, str]:
    """Keys of the artifact bucket that $LATEST's or a remaining version's environment names."""
    out: dict[str, str] = {}
    named = [
        ("$LATEST", inv.latest_refs),
        *((f"function version {v.version}", v.object_refs) for v in remaining),
    ]
    for holder, refs in named:
        for ref in refs:
            bucket, _, key = ref.partition("/")
            if bucket == inv.bucket:
                out.setdefault(key, f"{holder} (its environment)")
    return out


def plan_objects(
    inv: Inventory,
    gone_model: list[LayerVersionView],
    gone_deps: list[LayerVersionView],
    kept_m,
    kept_d,
    remaining=(),
) -> tuple[tuple[Item, ...], tuple[Item, ...]]:
    """(objects that go, candidates that stay because a remaining version names them)."""
    needed: dict[str, str] = _env_needs(inv, remaining)
    for v in kept_m:
        for key in _model_keys(
            inv.model_layer, v.sha256, inv.model_refs.get(v.version, ModelRefs())
        ):
            needed.setdefault(key, f"{inv.model_layer}:{v.version}")
    for v in kept_d:
        for key in _deps_keys(v.sha256):
            needed.setdefault(key, f"{inv.deps_layer}:{v.version}")
    for key, holder in inv.elsewhere.items():
        needed.setdefault(key, holder)
    unread = [v for v in kept_m if not inv.model_refs.get(v.version, ModelRefs()).known]
    candidates: list[str] = []
    for v in gone_model:
        candidates += _model_keys(
            inv.model_layer, v.sha256, inv.model_refs.get(v.version, ModelRefs())
        )
    present = {v.version for v in inv.model_versions}
    for number, marker in sorted(inv.pruned.items()):  # an earlier prune's unfinished objects
        if number not in present:
            refs = ModelRefs(marker.get("label"), tuple(marker.get("s3_keys") or ()))
            candidates += _model_keys(inv.model_layer, str(marker.get("sha256") or ""), refs)
    for v in gone_deps:
        candidates += _deps_keys(v.sha256)
    goes, stays, seen = [], [], set()
    for key in candidates:
        if key in seen or key not in inv.objects:
            continue
        seen.add(key)
        if key not in needed and unread and key.startswith("models/"):
            needed[key] = f"{inv.model_layer}:{unread[0].version} (its manifest unread)"
        if key in needed:
            reason = Reason("shared", f"{needed[key]} needs it")
            stays.append(Item(OBJECT, key, inv.objects[key], reasons=(reason,)))
        else:
            goes.append(Item(OBJECT, key, inv.objects[key]))
    return tuple(goes), tuple(stays)


def _kept_items(kind: str, prefix: str, table: dict, sizes: Mapping[int, int]) -> list[Item]:
    return [
        Item(kind, f"{prefix}{n}", sizes.get(n, 0), n, tuple(sorted(table[n])))
        for n in sorted(table, reverse=True)
        if n in sizes
    ]


def marker(inv: Inventory, v: LayerVersionView, now: _dt.datetime) -> dict:
    """The pruned/ record of a model layer version, written before it is deleted."""
    refs = inv.model_refs.get(v.version, ModelRefs())
    return {
        "layer": inv.model_layer,
        "version": v.version,
        "arn": v.arn,
        "sha256": v.sha256,
        "label": refs.label,
        "s3_keys": list(refs.s3_keys),
        "code_size": v.code_size,
        "pruned_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def plan_prune(
    inv: Inventory, *, keep: int, older_than_days: int, now: _dt.datetime, deps: bool = False
) -> PrunePlan:
    """The whole decision from one read. ``now`` is injected (tests move the clock)."""
    cutoff = now - _dt.timedelta(days=older_than_days)
    days = older_than_days
    f_table = protect_function_versions(inv, keep, cutoff, days)
    remaining = [v for v in inv.versions if v.version in f_table]
    gone_f = [v for v in inv.versions if v.version not in f_table]
    m_table = protect_layer_versions(
        inv.model_layer, inv.model_versions, inv, remaining, keep, cutoff, days, model=True
    )
    gone_m = [v for v in inv.model_versions if v.version not in m_table]
    kept_m = [v for v in inv.model_versions if v.version in m_table]
    d_table: dict[int, set[Reason]] = {}
    gone_d: list[LayerVersionView] = []
    kept_d = list(inv.deps_versions)
    if deps:
        d_table = protect_layer_versions(
            inv.deps_layer, inv.deps_versions, inv, remaining, keep, cutoff, days, model=False
        )
        gone_d = [v for v in inv.deps_versions if v.version not in d_table]
        kept_d = [v for v in inv.deps_versions if v.version in d_table]
    objects, shared = plan_objects(inv, gone_m, gone_d, kept_m, kept_d, remaining)
    present = {v.version for v in inv.model_versions}
    kept = [
        *_kept_items(FUNCTION_VERSION, "", f_table, {v.version: v.code_size for v in inv.versions}),
        *_kept_items(
            MODEL_VERSION,
            f"{inv.model_layer}:",
            m_table,
            {v.version: v.code_size for v in inv.model_versions},
        ),
        *_kept_items(
            DEPS_VERSION,
            f"{inv.deps_layer}:",
            d_table,
            {v.version: v.code_size for v in inv.deps_versions},
        ),
        *shared,
    ]
    return PrunePlan(
        function=inv.function,
        model_layer=inv.model_layer,
        deps_layer=inv.deps_layer,
        keep=keep,
        older_than_days=older_than_days,
        cutoff=cutoff,
        deps=deps,
        function_versions=tuple(
            Item(FUNCTION_VERSION, str(v.version), v.code_size, v.version) for v in gone_f
        ),
        model_versions=tuple(
            Item(MODEL_VERSION, f"{inv.model_layer}:{v.version}", v.code_size, v.version)
            for v in gone_m
        ),
        deps_versions=tuple(
            Item(DEPS_VERSION, f"{inv.deps_layer}:{v.version}", v.code_size, v.version)
            for v in gone_d
        ),
        objects=objects,
        markers={v.version: marker(inv, v, now) for v in gone_m},
        finished_records=tuple(sorted(n for n in inv.pruned if n not in present)),
        stale_records=tuple(sorted(n for n in inv.pruned if n in present and n in m_table)),
        kept=tuple(kept),
    )
