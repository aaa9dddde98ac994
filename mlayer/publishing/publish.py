"""publish-model: check, package and publish a model-layer version, then relink the function.

Four stages, as deploy-function's: the request is resolved against the settings once
(resolved.py); the model's files and the live state are read once (publish_read.py); the plan is
made from them alone, pure (publish_plan.py): label, manifest, compatibility, reuse, store,
target version, relink, /tmp and every warning; then, after ``confirm``, the writes in the order
of publish_apply.py, each failure naming the state it left. So a refusal leaves the function
exactly as it was, and a dry run reports the plan with the real zip's figures.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from mlayer.arns import LayerVersionArn
from mlayer.config import Settings
from mlayer.gateway import Gateway
from mlayer.model.artifacts import utc_now
from mlayer.model.packaging import ZipInfo
from mlayer.publishing import model_store
from mlayer.publishing.models import LayerSize
from mlayer.publishing.publish_apply import Applied, apply_publish, model_zip
from mlayer.publishing.publish_plan import LinkPlan, PublishPlan, plan_link, plan_publish, question
from mlayer.publishing.publish_read import ModelFiles, read_live, read_model
from mlayer.publishing.publish_types import LiveState
from mlayer.publishing.resolved import ResolvedPublish, resolve_publish
from mlayer.request_types import PublishRequest
from mlayer.results.publish import PublishResult

Confirm = Callable[[str], None]


def no_confirm(question: str) -> None:
    """The default ``confirm``: go ahead (the CLI passes one that asks)."""
    return None


def _result(
    req: ResolvedPublish,
    files: ModelFiles,
    live: LiveState,
    plan: PublishPlan,
    link: LinkPlan,
    zipped: ZipInfo | None,
    applied: Applied | None = None,
) -> PublishResult:
    """The result of the plan (a dry run), or of the writes when ``applied``."""
    manifest = applied.manifest if applied else plan.manifest
    info = applied.zip if applied else zipped
    target = applied.target if applied else plan.target
    reused = plan.reused
    if info is not None:
        zip_sha, zipped_size, unzipped = info.sha256, info.zipped_size, info.unzipped_size
    else:
        assert reused is not None  # no zip: the existing version is the target
        zip_sha, zipped_size, unzipped = reused.zip_sha256, reused.zipped_size, reused.size.unzipped
    relink = applied.relink if applied else link.relink
    notes = applied.notes if applied else ()
    parity = (manifest.get("onnx") or {}).get("parity") if reused else files.content.parity
    return PublishResult(
        layer_name=req.layer,
        layer_version_arn=target,
        version=LayerVersionArn.parse(target).version,
        label=manifest["model_version"],
        content_sha256=manifest["content_sha256"],
        reused=reused is not None,
        published=applied is not None and info is not None,
        dry_run=req.dry_run,
        linked=relink is not None,
        plan=relink,
        outcome=applied.outcome if applied else None,
        zip_sha256=zip_sha,
        zipped_size=zipped_size,
        unzipped_size=unzipped,
        lock_source=live.lock_source,
        warnings=(*plan.warnings, *link.warnings, *notes),
        manifest=manifest,
        function=req.function,
        alias=req.alias,
        store=plan.store.store,
        store_reason=plan.store.reason,
        s3_objects=model_store.placement(manifest).s3_objects,
        ephemeral=link.ephemeral,
        format=manifest.get("format") or "sklearn",
        input_reason=files.pipeline.input_reason,
        parity=parity,
    )


def publish_model(
    gw: Gateway,
    settings: Settings,
    request: PublishRequest,
    *,
    confirm: Confirm = no_confirm,
    now: Callable[[], str] = utc_now,
) -> PublishResult:
    """Publish (or reuse) the pipeline's model-layer version and relink the function to it."""
    req = resolve_publish(settings, request)
    files, model = read_model(req, now)
    live = read_live(gw, req, model)
    plan = plan_publish(req, model, live)
    with tempfile.TemporaryDirectory(prefix="mlayer-model-") as tmp:
        zipped = None
        if plan.reused is None:  # the zip, built before the confirm: a dry run shows its figures
            zip_path = Path(tmp) / "model-layer.zip"
            zipped = model_zip(zip_path, files.content, plan.manifest, plan.store.store)
            size = LayerSize(zipped.unzipped_size)
        else:
            size = plan.reused.size
        link = plan_link(req, live, plan, size)
        if req.dry_run:
            return _result(req, files, live, plan, link, zipped)
        confirm(question(req, plan, link))
        applied = apply_publish(gw, req, live, plan, link, zipped, files=files, workdir=Path(tmp))
    return _result(req, files, live, plan, link, zipped, applied)
