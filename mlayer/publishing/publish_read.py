"""publish-model's reads, once: the model's files, then the function, the layer, the bucket.

Everything the plan (publish_plan.py) decides from is read here and handed over as typed values
(publish_types.py): the files are scanned and judged (model/artifacts.py), the manifest drafted
(its label is the plan's), the function's configuration, the layer's versions, the deps lock,
the labels taken, the version that already holds this content and the sizes the 250 MB budget
counts. Nothing is written; AWS's shapes stop here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlayer.arns import LayerVersionArn
from mlayer.errors import NotFoundError, UsageError
from mlayer.gateway import Gateway
from mlayer.gateway.views import FunctionConfig, LayerVersion
from mlayer.model import manifest as mf
from mlayer.model.artifacts import Pipeline, environment_versions, inspect_pipeline, provenance
from mlayer.model.layer_content import LayerContent, layer_content
from mlayer.publishing import ephemeral, labels
from mlayer.publishing.compat import deps_lock_for
from mlayer.publishing.models import FunctionLayers
from mlayer.publishing.planner import same_layer
from mlayer.publishing.publish_plan import next_arn
from mlayer.publishing.publish_types import (
    FunctionView,
    LiveState,
    ModelFacts,
    ReusedVersion,
)
from mlayer.publishing.resolved import ResolvedPublish
from mlayer.publishing.store import ArtifactStore


@dataclass(frozen=True)
class ModelFiles:
    """The judged pipeline and the layer's content: what the zip and the uploads are made of."""

    pipeline: Pipeline
    content: LayerContent


def read_metrics(path: str | Path | None) -> dict[str, Any]:
    if not path:
        return {}
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(
            f"--metrics {path} is not a readable JSON file: {exc}", "Pass a JSON object."
        ) from exc
    if not isinstance(doc, dict):
        raise UsageError(f"--metrics {path} must hold a JSON object.", 'E.g. {"accuracy": 0.93}.')
    return doc


def _draft(
    req: ResolvedPublish,
    pipeline: Pipeline,
    content: LayerContent,
    created_at: str,
    metrics: dict[str, Any],
) -> dict[str, Any]:
    """The manifest of these files; its label (``model_version``) is set by the plan."""
    manifest = mf.build_manifest(
        label="",
        artifacts=content.artifacts,
        code=content.code_manifest,
        input_kind=pipeline.input_kind,
        outputs=pipeline.outputs,
        n_features=pipeline.n_features,
        versions=environment_versions(),
        created_at=created_at,
        created_by=provenance(pipeline.paths[-1].parent),
        metrics=metrics,
        description=req.description,
        input_schema=pipeline.input_schema,
        samples=content.samples,
    )
    manifest["format"] = content.format
    manifest.update(content.manifest_fields)
    trusted = sorted({g for scan in pipeline.scans for g in scan.trusted_globals})
    manifest.setdefault("trusted_globals", trusted)
    return manifest


def read_model(req: ResolvedPublish, now: Callable[[], str]) -> tuple[ModelFiles, ModelFacts]:
    """Scan, judge and load the files (before any AWS call); the facts the plan needs of them."""
    metrics = read_metrics(req.metrics)  # a bad --metrics file is refused before the judging
    pipeline = inspect_pipeline(
        req.model,
        req.preprocessors,
        req.code_files,
        req.input_kind,
        sample=req.request.sample,
        trusted=req.request.trust,
    )
    content = layer_content(
        pipeline, req.format, req.request, req.runtime, req.input_kind in (None, "auto")
    )
    facts = ModelFacts(
        manifest=_draft(req, pipeline, content, now(), metrics),
        format=content.format,
        artifact_sizes=tuple(a.size for a in content.artifacts),
        code_sizes=tuple(c.size for c in content.code),
        notes=tuple(content.notes),
    )
    return ModelFiles(pipeline, content), facts


def function_view(config: FunctionConfig, store: ArtifactStore | None = None) -> FunctionView:
    """The configuration as the plans see it; with ``store``, its code's unzipped size too."""
    return FunctionView(
        arn=config.arn,
        runtime=config.runtime,
        memory_mb=config.memory or None,
        tmp_mb=ephemeral.tmp_or_default(config.tmp_mb),
        layers=FunctionLayers.of(config),
        size=store.function_size_of(config) if store is not None else None,
    )


def _configuration(gw: Gateway, function: str, required: bool) -> FunctionConfig | None:
    if required:
        return gw.function_config(function)
    try:
        return gw.function_config(function)
    except NotFoundError:
        return None


def _reused(
    store: ArtifactStore, versions: Sequence[LayerVersion], short: str
) -> ReusedVersion | None:
    """The version whose description carries this content's sha, read in full (zip, manifest)."""
    found = next((v for v in versions if mf.description_sha(v.description) == short), None)
    if found is None:
        return None
    zip_sha = store.layer_sha(found.arn)
    manifest = store.manifest(zip_sha)
    size = store.layer_size(found.arn)
    detail = store.layer_detail(found.arn)
    zipped = (detail.code_size if detail is not None else None) or 0
    return ReusedVersion(found.version, found.arn, zip_sha, manifest, size, zipped)


def _kept(function: FunctionView, versions: Sequence[LayerVersion], layer: str) -> list[str]:
    """The function's layers the relink keeps: the budget needs their sizes, not those of the
    model layer's version it replaces (the same layer of the same account as the target)."""
    target = LayerVersionArn.try_parse(next_arn(versions, function, layer, 1))
    if target is None:
        return list(function.layers.arns)
    return [arn for arn in function.layers.arns if not same_layer(arn, target)]


def read_live(gw: Gateway, req: ResolvedPublish, model: ModelFacts) -> LiveState:
    """The function (required when linking), the deps lock, the layer's versions and labels,
    the version already holding this content, and the sizes a relink's budget counts."""
    config = _configuration(gw, req.function, required=req.link)
    store = ArtifactStore(gw, req.bucket)
    lock, lock_source = deps_lock_for(store, req.deps_layer, config.layer_arns if config else ())
    versions = gw.layer_versions(req.layer)
    reused = _reused(store, versions, model.short_sha)
    function = None
    sizes = {}
    if config is not None:
        sized = req.link or reused is None  # the store choice or the relink needs the budget
        function = function_view(config, store if sized else None)
        if sized:
            sizes = store.layer_sizes(_kept(function, versions, req.layer), {})
    return LiveState(
        function=function,
        versions=versions,
        lock=lock,
        lock_source=lock_source,
        labels_taken=frozenset(labels.labels_in_use(v.description for v in versions)),
        reused=reused,
        sizes=sizes,
    )
