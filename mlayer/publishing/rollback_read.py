"""rollback's reads, once each: first what choosing the version needs, then what planning needs.

``read_versions``: the function's configuration, the layer's versions, and (for a --version N
that does not exist) prune's record of it. ``read_target``: the chosen version's manifest, the
deps lock, the S3 objects it needs, the sizes the budget counts, the alias's layers and a
rollout running on it. Nothing is written; AWS's shapes stop here (publish_types.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlayer.arns import LayerVersionArn, layer_name
from mlayer.config import Settings
from mlayer.gateway import Gateway
from mlayer.gateway.views import FunctionConfig, LayerVersion
from mlayer.prune.read import pruned_marker
from mlayer.publishing import model_store
from mlayer.publishing.compat import deps_lock_for
from mlayer.publishing.planner import same_layer
from mlayer.publishing.publish_read import function_view
from mlayer.publishing.publish_types import FunctionView
from mlayer.publishing.resolved import ResolvedRollback
from mlayer.publishing.rollback_plan import TargetRead, live_version
from mlayer.publishing.store import ArtifactStore
from mlayer.rollout.commands import running_rollout
from mlayer.views.inspection import live_arns


@dataclass(frozen=True)
class VersionsRead:
    """What choosing the target needs: the function, the layer's versions, the live one."""

    config: FunctionConfig  # as read: its code's size, and the relinker's dry-run question
    function: FunctionView
    versions: tuple[LayerVersion, ...]
    live: int | None
    pruned: Mapping[str, Any] | None  # prune's record of the missing --version N


def read_versions(gw: Gateway, req: ResolvedRollback) -> VersionsRead:
    config = gw.function_config(req.function)
    function = function_view(config)
    versions = gw.layer_versions(req.layer)
    pruned = None
    if req.version is not None and req.version not in {v.version for v in versions}:
        pruned = pruned_marker(gw, req.bucket, req.layer, req.version)
    live = live_version(function.layers, versions)
    return VersionsRead(config, function, versions, live, pruned)


def _kept(function: FunctionView, target: LayerVersion) -> list[str]:
    """The function's layers the relink keeps: the budget counts them and the target, not the
    model layer's version the target replaces (its size would be 2 reads for nothing)."""
    parsed = LayerVersionArn.parse(target.arn)
    return [arn for arn in function.layers.arns if not same_layer(arn, parsed)]


def read_target(
    gw: Gateway,
    settings: Settings,
    req: ResolvedRollback,
    first: VersionsRead,
    target: LayerVersion,
) -> TargetRead:
    """Everything the plan decides from; stops after the manifest when there is none."""
    store = ArtifactStore(gw, req.bucket)
    function = function_view(first.config, store)
    manifest = store.manifest(store.layer_sha(target.arn))
    if manifest is None:  # refused by the plan: nothing else is worth reading
        return TargetRead(function, target, None)
    lock, lock_source = deps_lock_for(store, req.deps_layer, first.config.layer_arns)
    missing = model_store.missing_objects(gw, model_store.placement(manifest))
    sizes = store.layer_sizes((*_kept(function, target), target.arn), {})
    alias_layers: tuple[str, ...] = ()
    if req.alias:
        on_alias = live_arns(gw, req.function, req.alias)
        alias_layers = tuple(a for a in on_alias if layer_name(a) == req.layer)
    return TargetRead(
        function=function,
        target=target,
        manifest=manifest,
        lock=lock,
        lock_source=lock_source,
        missing=tuple(missing),
        sizes=sizes,
        alias_layers=alias_layers,
        rollout=running_rollout(gw, settings, req.alias),
    )
