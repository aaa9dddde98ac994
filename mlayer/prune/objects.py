"""Which objects of the artifact bucket prune deletes: those no remaining layer version names.

A model layer version names its zip, manifest, label record and S3-stored artifacts; a deps
layer version its zip and lock; $LATEST's and every remaining function version's environment
may name more. A candidate any of these still needs stays, with the holder as its reason;
when a kept version's manifest could not be read, its models/ objects are kept too (pure).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from mlayer.prune.types import FunctionVersionView, Inventory, LayerVersionView, ModelRefs
from mlayer.prune.verdicts import OBJECT, Item, Reason


def _model_keys(layer: str, sha: str, refs: ModelRefs) -> list[str]:
    keys = [f"layers/{sha}.zip", f"layers/{sha}.manifest.json"] if sha else []
    if refs.label:
        keys.append(f"labels/{layer}/{refs.label}.json")
    return keys + list(refs.s3_keys)


def _deps_keys(sha: str) -> list[str]:
    return [f"layers/{sha}.zip", f"layers/{sha}.lock.json"] if sha else []


def _env_needs(inv: Inventory, remaining: Iterable[FunctionVersionView]) -> dict[str, str]:
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
    kept_m: Sequence[LayerVersionView],
    kept_d: Iterable[LayerVersionView],
    remaining: Iterable[FunctionVersionView] = (),
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
