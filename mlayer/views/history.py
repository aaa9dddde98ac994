"""`mlayer history`: every model-layer version, newest first, marked with what uses it.

Read-only. The marks (live on $LATEST, on the alias, the shadow's, what prune would remove) are
read once before the versions, so each row is the version's own reads plus set lookups.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlayer.config import Settings
from mlayer.errors import NotFoundError
from mlayer.gateway import Gateway
from mlayer.gateway.views import LayerVersion
from mlayer.model import manifest as mf
from mlayer.publishing import model_store
from mlayer.publishing.planner import unknown_size_warning
from mlayer.publishing.store import ArtifactStore
from mlayer.request_types import HistoryRequest
from mlayer.results.history import HistoryResult, HistoryRow
from mlayer.shadow import state as shadow_state
from mlayer.views.inspection import live_arns, model_room


@dataclass
class Marks:
    """What the function uses, against which each version is marked; warnings on the way."""

    live: set[str] = field(default_factory=set)
    on_alias: set[str] = field(default_factory=set)
    prunable: frozenset[int | None] = frozenset()
    shadow_arn: str | None = None
    room: int | None = None
    warnings: list[str] = field(default_factory=list)


def history(gw: Gateway, settings: Settings, request: HistoryRequest) -> HistoryResult:
    """Every model-layer version, newest first, with which one is live (and on the alias)."""
    function, layer = settings.function.name, settings.model.layer
    alias = request.alias or settings.model.alias or None
    store = ArtifactStore(gw, settings.artifacts.bucket)
    marks = read_marks(gw, settings, store, alias)
    rows = [_row(store, v, marks) for v in gw.layer_versions(layer)]
    return HistoryResult(
        layer_name=layer,
        function=function,
        alias=alias,
        versions=tuple(rows),
        warnings=tuple(marks.warnings),
        model_room=marks.room,
    )


def read_marks(gw: Gateway, settings: Settings, store: ArtifactStore, alias: str | None) -> Marks:
    """The function's layers, its alias's, prune's verdicts and the shadow; without a function,
    nothing is marked and a warning says why."""
    from mlayer.prune.command import would_remove

    function = settings.function.name
    try:
        config = gw.function_config(function)
    except NotFoundError:
        return Marks(warnings=[f"Function {function} does not exist: no version is marked live."])
    marks = Marks(live=set(config.layer_arns))
    marks.room, unknown = model_room(store, config, settings.model.layer)
    marks.warnings += [w for w in [unknown_size_warning(unknown, marks.room)] if w]
    if alias:
        if gw.alias(function, alias) is None:
            marks.warnings.append(
                f"Function {function} has no alias {alias}: no version is marked on it."
            )
        else:
            marks.on_alias = set(live_arns(gw, function, alias))
    marks.prunable = would_remove(gw, settings, store=store)
    shadow = shadow_state.load(gw, settings.artifacts.bucket, function)
    marks.shadow_arn = shadow.layer_version_arn if shadow and shadow.active else None
    return marks


def _row(store: ArtifactStore, v: LayerVersion, marks: Marks) -> HistoryRow:
    """One version as history shows it: its manifest's facts (the description's when the
    manifest cannot be read), its sizes and its marks."""
    arn = v.arn
    detail = store.layer_detail(arn)
    sha = store.layer_sha(arn)
    manifest: dict[str, Any] = store.manifest(sha) or {}
    desc = v.description
    arts = manifest.get("artifacts") or [{}]
    place = model_store.placement(manifest)
    return HistoryRow(
        version=v.version,
        arn=arn,
        label=manifest.get("model_version") or desc.split(" sha:")[0],
        short_sha=mf.short_sha(manifest.get("content_sha256", ""))
        or (mf.description_sha(desc) or ""),
        content_sha256=manifest.get("content_sha256"),
        created=v.created,
        zipped_size=(detail.code_size if detail else None) or 0,
        unzipped_size=store.zip_unzipped_size(sha),
        sklearn_version=arts[-1].get("sklearn_version"),
        live=arn in marks.live,
        live_on_alias=arn in marks.on_alias,
        description=desc,
        store=place.store,
        s3_objects=place.s3_objects,
        prunable=v.version in marks.prunable,
        trusted_globals=tuple(manifest.get("trusted_globals") or ()),
        shadow=arn == marks.shadow_arn,
    )
