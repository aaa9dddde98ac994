"""`mlayer prune`'s one read of everything (prune_types.Inventory), and the pruned/ records.

State other commands leave may not exist yet (rollouts, shadows): it is read tolerantly, from
``rollouts/<function>/`` and ``shadows/<function>/`` (also ``shadow/<function>.json``) in the
artifact bucket, and whatever function version or layer version such a state names is protected.
A state that says it is finished (``status``/``state``: done, aborted, promoted...) protects
nothing. Reading more than needed is safe; reading less would not be.

``pruned/<layer>/<version>.json`` records each model layer version a prune deleted (so
`rollback --version N` can say it was pruned); ``pruned/<layer>/pending/<version>.json`` marks
one whose objects are not all deleted yet, so a re-run after an interruption finishes them.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Iterator
from typing import Any

from mlayer.arns import LayerVersionArn
from mlayer.config import Settings
from mlayer.errors import MlayerError, NotFoundError
from mlayer.gateway import Gateway
from mlayer.prune.types import Inventory, LayerVersionView, ModelRefs
from mlayer.publishing import model_store
from mlayer.publishing.store import ArtifactStore

FINISHED = {
    "done",
    "complete",
    "completed",
    "promoted",
    "aborted",
    "stopped",
    "rolled_back",
    "rolled-back",
    "finished",
    "succeeded",
    "failed",
}


def marker_key(layer: str, version: int) -> str:
    return f"pruned/{layer}/{int(version)}.json"


def pending_key(layer: str, version: int) -> str:
    return f"pruned/{layer}/pending/{int(version)}.json"


def pruned_marker(gw: Gateway, bucket: str, layer: str, version: int) -> dict[str, Any] | None:
    """The record of a model layer version mlayer prune deleted, or None."""
    try:
        doc = gw.get_json_if_exists(bucket, marker_key(layer, version))
    except MlayerError:
        return None
    return doc if isinstance(doc, dict) else None


def _walk(doc: object, key: str = "") -> Iterator[tuple[str, object]]:
    """(key, value) of every scalar in a JSON document, keys lower-cased."""
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _walk(v, str(k).lower())
    elif isinstance(doc, list):
        for v in doc:
            yield from _walk(v, key)
    else:
        yield key, doc


def named_in(
    doc: object, function: str, model_arn: LayerVersionArn | None
) -> tuple[set[str], set[str]]:
    """(function versions, layer version ARNs) a state document names, whatever its shape."""
    versions: set[str] = set()
    layers: set[str] = set()
    if isinstance(doc, dict) and str(doc.get("status") or doc.get("state") or "").lower() in (
        FINISHED
    ):
        return versions, layers
    for key, value in _walk(doc):
        text = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
        if text.startswith("arn:") and ":layer:" in text:
            layers.add(text)
        elif text.startswith("arn:") and f":function:{function}:" in text:
            versions.add(text.rsplit(":", 1)[1])
        elif "version" in key and "schema" not in key and text.isdigit():
            if ("layer" in key or "model" in key) and model_arn is not None:
                layers.add(str(model_arn.with_version(int(text))))
            else:
                versions.add(text)
    return versions, layers


def _states(gw: Gateway, bucket: str, prefixes: Iterable[str]) -> list[object]:
    docs = []
    for prefix in prefixes:
        for key in sorted(gw.object_sizes(bucket, prefix)):
            if key.endswith(".json"):
                docs.append(gw.get_json_if_exists(bucket, key))
    return docs


# (function versions, layer version ARNs) the unfinished states name
Named = tuple[frozenset[str], frozenset[str]]


def _named_by(docs: list[object], function: str, model_arn: LayerVersionArn | None) -> Named:
    versions: set[str] = set()
    layers: set[str] = set()
    for doc in docs:
        v, la = named_in(doc, function, model_arn)
        versions |= v
        layers |= la
    return frozenset(versions), frozenset(layers)


def _refs(store: ArtifactStore, bucket: str, v: LayerVersionView, warnings: list[str]) -> ModelRefs:
    """The label and S3 objects a model layer version's manifest names. A manifest that cannot
    be read or trusted names nothing (``known`` False): the plan then keeps every models/ object,
    since it cannot tell which ones that version needs."""
    try:
        manifest = store.manifest(v.sha256) if v.sha256 else None
    except MlayerError as exc:
        warnings.append(f"{v.name} version {v.version}: {exc.message}")
        return ModelRefs(known=False)
    keys = tuple(
        o["key"]
        for o in model_store.placement(manifest).s3_objects
        if o.get("bucket") == bucket and o.get("key")
    )
    label = (manifest or {}).get("model_version")
    return ModelRefs(str(label) if label else None, keys)


def _elsewhere(
    gw: Gateway,
    store: ArtifactStore,
    bucket: str,
    mine: set[str],
    objects: dict[str, int],
    now: _dt.datetime,
    warnings: list[str],
) -> dict[str, str]:
    """Bucket keys the account's other layers name: the default bucket is shared by every
    function of the account and region, and zips, locks and models/<sha> are content-addressed,
    so another function's version may need the very object a pruned version named."""
    out: dict[str, str] = {}
    for name in gw.layer_names():
        if name in mine:
            continue
        for v in gw.layer_version_views(name, now):
            if not v.sha256 or f"layers/{v.sha256}.zip" not in objects:
                continue  # not published through this bucket: it names nothing here
            holder = f"{name}:{v.version}"
            for suffix in (".zip", ".manifest.json", ".lock.json"):
                out.setdefault(f"layers/{v.sha256}{suffix}", holder)
            if f"layers/{v.sha256}.manifest.json" in objects:
                for key in _refs(store, bucket, v, warnings).s3_keys:
                    out.setdefault(key, holder)
    return out


def _latest(gw: Gateway, function: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """$LATEST's layers and the objects its environment names; a missing function is the
    one read that ends the prune (there is nothing to protect or delete)."""
    try:
        return gw.latest_view(function)
    except NotFoundError as exc:
        raise NotFoundError(
            f"Function {function} does not exist in {gw.region}: nothing to prune.",
            "Pass --function or set [function] name.",
            exc.code,
        ) from exc


def _provisioned(gw: Gateway, function: str, warnings: list[str]) -> tuple[str, ...]:
    """Qualifiers with provisioned concurrency; where they cannot be listed, none, said in a
    warning (aliases still protect the versions they point at)."""
    provisioned = gw.provisioned_qualifiers(function)
    if provisioned is None:
        warnings.append(
            "Provisioned concurrency cannot be listed here (the embedded AWS does not model it): "
            "only aliases protect the versions it would be on."
        )
        return ()
    return provisioned


def _versions_through(
    gw: Gateway, store: ArtifactStore, layer: str, now: _dt.datetime
) -> tuple[LayerVersionView, ...]:
    """Every version of the layer with its zip's sha256 and size, each read through the store,
    so what history shows of them next (the same store) is not read again."""
    from mlayer.gateway.inventory import version_view

    out = []
    for item in gw.layer_versions(layer):
        try:
            detail = store.layer_detail(item.arn)
        except NotFoundError:  # deleted between the list and the read
            continue
        if detail is None:  # not readable here (another account's): nothing to judge
            continue
        out.append(version_view(layer, item, detail, now))
    return tuple(sorted(out, key=lambda lv: lv.version))


def _model_versions(
    gw: Gateway, store: ArtifactStore, layer: str, now: _dt.datetime, warnings: list[str]
) -> tuple[tuple[LayerVersionView, ...], dict[int, ModelRefs], LayerVersionArn | None]:
    """The model layer's versions, what each one's manifest names, and the layer's ARN (state
    documents may name a model version by number only)."""
    views = _versions_through(gw, store, layer, now)
    refs = {v.version: _refs(store, store.bucket, v, warnings) for v in views}
    arn = LayerVersionArn.try_parse(views[0].arn) if views else None
    return views, refs, arn


def _objects(gw: Gateway, bucket: str, model_layer: str) -> dict[str, int]:
    """Key -> size of the objects a prune may delete: zips, models and this layer's labels."""
    objects: dict[str, int] = {}
    for prefix in ("layers/", model_store.MODELS_PREFIX, f"labels/{model_layer}/"):
        objects.update(gw.object_sizes(bucket, prefix))
    return objects


def _in_flight(
    gw: Gateway, bucket: str, function: str, model_arn: LayerVersionArn | None
) -> tuple[Named, Named]:
    """What unfinished rollouts, then shadows, name: a version they name is kept."""
    rollouts = _named_by(_states(gw, bucket, [f"rollouts/{function}/"]), function, model_arn)
    shadows = _named_by(
        _states(gw, bucket, [f"shadows/{function}/", f"shadow/{function}.json"]),
        function,
        model_arn,
    )
    return rollouts, shadows


def _pending(gw: Gateway, bucket: str, model_layer: str) -> dict[int, dict[str, Any]]:
    """Versions an interrupted prune deleted without all their objects: a re-run finishes them."""
    pending = {}
    for key in gw.object_sizes(bucket, f"pruned/{model_layer}/pending/"):
        doc = gw.get_json_if_exists(bucket, key)
        if isinstance(doc, dict) and isinstance(doc.get("version"), int):
            pending[doc["version"]] = doc
    return pending


def read_inventory(
    gw: Gateway,
    settings: Settings,
    now: _dt.datetime,
    *,
    elsewhere: bool = True,
    store: ArtifactStore | None = None,
) -> Inventory:
    """Everything the plan decides on, read once (no write). ``elsewhere`` False skips the
    account's other layers (what they name only matters for objects: history needs none);
    ``store``: the caller's, so that what it reads next (history's rows) is not read twice."""
    bucket, function = settings.artifacts.bucket, settings.function.name
    model_layer, deps_layer = settings.model.layer, settings.deps.layer
    warnings: list[str] = []
    latest, latest_refs = _latest(gw, function)
    provisioned = _provisioned(gw, function, warnings)
    store = store if store is not None else ArtifactStore(gw, bucket)
    model_versions, refs, model_arn = _model_versions(gw, store, model_layer, now, warnings)
    objects = _objects(gw, bucket, model_layer)
    rollouts, shadows = _in_flight(gw, bucket, function, model_arn)
    mine = {model_layer, deps_layer}
    others = _elsewhere(gw, store, bucket, mine, objects, now, warnings) if elsewhere else {}
    pending = _pending(gw, bucket, model_layer)
    return Inventory(
        function=function,
        model_layer=model_layer,
        deps_layer=deps_layer,
        latest_layers=latest,
        versions=gw.function_version_views(function, now),
        aliases=gw.alias_views(function),
        provisioned=provisioned,
        mapped=gw.mapping_qualifiers(function),
        model_versions=model_versions,
        deps_versions=gw.layer_version_views(deps_layer, now),
        model_refs=refs,
        objects=objects,
        rollout_versions=rollouts[0],
        rollout_layers=rollouts[1],
        shadow_versions=shadows[0],
        shadow_layers=shadows[1],
        pruned=pending,
        elsewhere=others,
        bucket=bucket,
        latest_refs=latest_refs,
        warnings=tuple(warnings),
    )
