"""`mlayer prune`'s decisions (pure): what goes, what stays and why, and the bytes freed.

A deleted layer version can never be attached again, so what stays is decided first and every
item that stays says why (``Reason``). A function version goes only when nothing points at it
(an alias, its canary weight, provisioned concurrency, an event-source mapping, a rollout, a
shadow) and it is both outside the newest ``keep`` and older than ``older_than_days``. A model
layer version goes only when, besides that, neither $LATEST nor any remaining function version
carries it, it is not what `rollback --previous` would pick, and no rollout or shadow names it.
Objects in the artifact bucket go only when no remaining layer version names them
(objects.py). The decisions are values (verdicts.py).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping

from mlayer.arns import LayerVersionArn
from mlayer.prune.objects import plan_objects
from mlayer.prune.types import Inventory, LayerVersionView, ModelRefs
from mlayer.prune.verdicts import (
    DEPS_VERSION,
    FUNCTION_VERSION,
    MODEL_VERSION,
    Item,
    PrunePlan,
    Reason,
)


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
    gone_m, kept_m = _split(inv.model_versions, m_table)
    d_table: dict[int, set[Reason]] = {}
    gone_d: list[LayerVersionView] = []
    kept_d = list(inv.deps_versions)
    if deps:
        d_table = protect_layer_versions(
            inv.deps_layer, inv.deps_versions, inv, remaining, keep, cutoff, days, model=False
        )
        gone_d, kept_d = _split(inv.deps_versions, d_table)
    objects, shared = plan_objects(inv, gone_m, gone_d, kept_m, kept_d, remaining)
    present = {v.version for v in inv.model_versions}
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
        model_versions=_gone_items(MODEL_VERSION, f"{inv.model_layer}:", gone_m),
        deps_versions=_gone_items(DEPS_VERSION, f"{inv.deps_layer}:", gone_d),
        objects=objects,
        markers={v.version: marker(inv, v, now) for v in gone_m},
        finished_records=tuple(sorted(n for n in inv.pruned if n not in present)),
        stale_records=tuple(sorted(n for n in inv.pruned if n in present and n in m_table)),
        kept=(*_kept(inv, f_table, m_table, d_table), *shared),
    )


def _split(
    versions: Iterable[LayerVersionView], table: dict
) -> tuple[list[LayerVersionView], list[LayerVersionView]]:
    """(the layer versions that go, those that stay): a version stays when it has a reason."""
    versions = list(versions)
    return [v for v in versions if v.version not in table], [
        v for v in versions if v.version in table
    ]


def _gone_items(kind: str, prefix: str, gone: list[LayerVersionView]) -> tuple[Item, ...]:
    return tuple(Item(kind, f"{prefix}{v.version}", v.code_size, v.version) for v in gone)


def _kept(inv: Inventory, f_table: dict, m_table: dict, d_table: dict) -> list[Item]:
    """Every version that stays, with its reasons: function, then model, then deps layer."""
    return [
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
    ]
