"""What publish-model and rollback read, as typed values: the plans never see AWS's shapes.

publish_read.py and rollback_read.py fill these from the Gateway and the artifact bucket, once;
publish_plan.py and rollback_plan.py decide from them alone. Pure: plain frozen values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlayer.gateway.views import LayerVersion
from mlayer.model import manifest as mf
from mlayer.publishing.models import FunctionLayers, LayerSize


@dataclass(frozen=True)
class FunctionView:
    """The live function, as far as a relink cares."""

    arn: str
    runtime: str | None
    memory_mb: int | None
    tmp_mb: int  # EphemeralStorage (Lambda's default 512 when unset)
    layers: FunctionLayers
    size: LayerSize | None = None  # its own code, unzipped when known (None: not read)


@dataclass(frozen=True)
class ReusedVersion:
    """The existing version that already holds this content (what a publish reuses)."""

    version: int
    arn: str
    zip_sha256: str
    manifest: Mapping[str, Any] | None  # its manifest in the bucket (None: not found there)
    size: LayerSize
    zipped_size: int


@dataclass(frozen=True)
class ModelFacts:
    """What the plan needs of the model's files: the manifest drafted from them, label unset."""

    manifest: Mapping[str, Any]
    format: str  # sklearn | onnx
    artifact_sizes: tuple[int, ...]
    code_sizes: tuple[int, ...]
    notes: tuple[str, ...] = ()

    @property
    def content_sha256(self) -> str:
        return str(self.manifest["content_sha256"])

    @property
    def short_sha(self) -> str:
        return mf.short_sha(self.content_sha256)


@dataclass(frozen=True)
class LiveState:
    """What publish-model reads of AWS and the bucket, once."""

    function: FunctionView | None  # None: no function (--no-link only)
    versions: tuple[LayerVersion, ...]  # newest first
    lock: Mapping[str, Any] | None
    lock_source: str
    labels_taken: frozenset[str] = frozenset()
    reused: ReusedVersion | None = None
    sizes: Mapping[str, LayerSize] = field(default_factory=dict)  # the function's layers'

    @property
    def next_version(self) -> int:
        return self.versions[0].version + 1 if self.versions else 1
