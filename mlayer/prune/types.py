"""What `mlayer prune` reads, as small typed views: the gateway fills them, the plan judges them.

Pure data (no AWS-shaped dicts past the gateway): one function's published versions, its aliases
with their canary weights, the layer versions of the model (and dependencies) layer, the artifact
bucket's objects, and the state other commands leave (rollouts, shadows, earlier prunes).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FunctionVersionView:
    """One published function version ($LATEST is never one)."""

    version: int
    code_size: int
    last_modified: _dt.datetime
    layers: tuple[str, ...]  # layer version ARNs, in order
    object_refs: tuple[str, ...] = ()  # "bucket/key" its environment names (s3://…, e.g. a shadow)


@dataclass(frozen=True)
class AliasView:
    """An alias: its primary version and the versions its RoutingConfig weights (canary)."""

    name: str
    version: str  # a version number, or "$LATEST"
    weights: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class LayerVersionView:
    """One version of a layer, with what ListLayerVersions alone does not say (sha, size)."""

    name: str
    version: int
    arn: str
    code_size: int
    created: _dt.datetime
    sha256: str  # hex of the zip, the key of layers/<sha>.zip


@dataclass(frozen=True)
class ModelRefs:
    """What a model layer version names in the bucket beyond its own zip: from its manifest."""

    label: str | None = None
    s3_keys: tuple[str, ...] = ()  # models/<sha> objects its artifacts live in
    known: bool = True  # False: its manifest could not be read or trusted


@dataclass(frozen=True)
class Inventory:
    """One read of everything the prune decides on (prune_read.read_inventory)."""

    function: str
    model_layer: str
    deps_layer: str
    latest_layers: tuple[str, ...]  # $LATEST's layer ARNs
    versions: tuple[FunctionVersionView, ...]
    aliases: tuple[AliasView, ...]
    provisioned: tuple[str, ...]  # qualifiers (version numbers or alias names) with PC
    mapped: tuple[str, ...]  # qualifiers event-source mappings target ("" = unqualified)
    model_versions: tuple[LayerVersionView, ...]
    deps_versions: tuple[LayerVersionView, ...]
    model_refs: Mapping[int, ModelRefs]  # model layer version -> its manifest's references
    objects: Mapping[str, int]  # artifact bucket key -> size (layers/, models/, labels/)
    rollout_versions: frozenset[str] = frozenset()  # function versions a rollout names
    rollout_layers: frozenset[str] = frozenset()  # layer ARNs a rollout names
    shadow_versions: frozenset[str] = frozenset()
    shadow_layers: frozenset[str] = frozenset()
    pruned: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)  # earlier prunes' markers
    # bucket key -> "<layer>:<version>" of another layer (another function's, in the same
    # default bucket) that names it: same zip, same lock, same content-addressed models/<sha>
    elsewhere: Mapping[str, str] = field(default_factory=dict)
    bucket: str = ""  # the artifact bucket (object_refs in it protect their keys)
    latest_refs: tuple[str, ...] = ()  # "bucket/key" $LATEST's environment names
    warnings: tuple[str, ...] = ()
