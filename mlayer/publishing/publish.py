"""publish-model: check, package and publish a model-layer version, then relink the function.

Every decision is made before the first write: the files are checked, the dependencies lock is
compared (compat.py), the relink is planned (planner.py); only then, after ``confirm``, does
anything reach AWS. So a refusal leaves the function exactly as it was.
"""

from __future__ import annotations

import functools
import json
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mlayer.arns import LayerVersionArn
from mlayer.config import Settings
from mlayer.errors import AwsError, NotFoundError, UsageError
from mlayer.gateway import Gateway
from mlayer.model import manifest as mf
from mlayer.model.artifacts import (
    Pipeline,
    environment_versions,
    inspect_pipeline,
    provenance,
    utc_now,
)
from mlayer.model.layer_content import LayerContent, layer_content
from mlayer.model.packaging import ZipInfo, write_zip
from mlayer.publishing import ephemeral, labels, model_store, planner
from mlayer.publishing.compat import check_compatibility, find_deps_lock
from mlayer.publishing.models import FunctionLayers, LayerSize, RelinkPlan
from mlayer.publishing.relink import RelinkedError, Relinker
from mlayer.publishing.store import ArtifactStore, manifest_key, zip_key
from mlayer.request_types import PublishRequest
from mlayer.results.publish import PublishResult

Confirm = Callable[[str], None]


def no_confirm(question: str) -> None:
    """The default ``confirm``: go ahead (the CLI passes one that asks)."""
    return None


def pipeline_files(settings: Settings, request: PublishRequest) -> tuple[str | Path, list]:
    """MODEL and -p, or [model] artifacts of mlayer.toml (preprocessors first, the model last)."""
    if request.model is not None:
        return request.model, list(request.preprocessors)
    if request.preprocessors or not settings.model.artifacts:
        raise UsageError(
            "Name the model file.",
            "mlayer publish-model MODEL [-p PREPROCESSOR ...], or set [model] artifacts.",
        )
    *pre, last = [str(settings.path(a)) for a in settings.model.artifacts]
    return last, pre


def read_metrics(path: str | Path | None) -> dict:
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


def _function_config(gw: Gateway, function: str, required: bool) -> dict | None:
    if required:
        return gw.get_function_configuration(function)
    try:
        return gw.get_function_configuration(function)
    except NotFoundError:
        return None


def _layer_arn_for(
    versions: list[dict], config: Mapping[str, Any] | None, name: str, version: int
) -> str:
    """The ARN the next version will have: from an existing version, else from the function's ARN."""
    if versions:
        return str(LayerVersionArn.parse(versions[0]["LayerVersionArn"]).with_version(version))
    if config and config.get("FunctionArn"):
        parts = config["FunctionArn"].split(":")
        return f"arn:{parts[1]}:lambda:{parts[3]}:{parts[4]}:layer:{name}:{version}"
    return f"arn:aws:lambda:-:000000000000:layer:{name}:{version}"


def in_zip(manifest: Mapping[str, Any]) -> dict:
    """The manifest as the zip holds it: without ``created_at``, so that the zip's bytes depend
    only on what is published (an interrupted publish builds the same zip and reuses it). The
    time is kept in the bucket's copy (layers/<zip sha256>.manifest.json)."""
    return {k: v for k, v in manifest.items() if k not in ("created_at", "zip_sha256")}


def _model_zip(dest: Path, content: LayerContent, manifest: dict, store: str = "layer") -> ZipInfo:
    """The layer zip: the manifest, the artifacts beside it (store "layer" only), the code."""
    entries: list[tuple[str, Path | bytes]] = [
        ("mlayer/manifest.json", mf.to_json(in_zip(manifest)))
    ]
    if store == "layer":
        entries += list(content.files)
    entries += content.code_entries
    return write_zip(dest, entries)


def _plan(
    store: ArtifactStore, function: str, layer: str, config: dict, target: str, size: LayerSize
) -> RelinkPlan:
    current = FunctionLayers.from_configuration(config)
    sizes = store.layer_sizes(current.arns, {target: size})
    return planner.plan_relink(
        function, current, layer, target, sizes, function_size=store.function_size(config)
    )


def _choose_store(
    store: ArtifactStore,
    settings: Settings,
    request: PublishRequest,
    content: LayerContent,
    manifest: dict,
    config: dict | None,
    target: str,
) -> tuple[dict, model_store.StoreChoice]:
    """The manifest to publish (the S3 form when the artifacts go to S3) and why that store."""
    bucket, function, layer = (
        settings.artifacts.bucket,
        settings.function.name,
        settings.model.layer,
    )
    code = [c.size for c in content.code]
    s3_form = model_store.to_s3_form(manifest, bucket)

    def room_left(size: int) -> int:  # the function's budget whenever it exists (--no-link too)
        if config is None:
            return model_store.standalone_fit(size)
        return _plan(store, function, layer, config, target, LayerSize(size)).budget_left

    requested = request.store or settings.model.store
    if content.format == "onnx":  # one graph, no pickles: it ships in its layer
        if request.store == "s3":
            raise UsageError(
                "--store s3 keeps pickles in S3; an ONNX model ships its graph in its layer.",
                "Drop --store s3 (or publish with --format sklearn).",
            )
        requested = "layer"
    choice = model_store.choose_store(
        requested,
        layer_size=model_store.layer_form_size(
            mf.to_json(manifest), [a.size for a in content.artifacts], code
        ),
        s3_size=model_store.layer_form_size(mf.to_json(s3_form), [], code),
        room_left=room_left,
        where=f"s3://{bucket}/{model_store.MODELS_PREFIX}",
    )
    if content.format == "onnx" and requested != (request.store or settings.model.store):
        _, _, why = choice.reason.partition(":")
        choice = model_store.StoreChoice(
            "layer", request.store or settings.model.store, "ONNX:" + why
        )
    return (s3_form if choice.store == "s3" else manifest), choice


def _reused_store(manifest: dict, version: int, requested: str) -> model_store.StoreChoice:
    """A reused version keeps its store (its S3 objects are uploaded again if they are gone)."""
    place = model_store.placement(manifest)
    where = "S3" if place.store == "s3" else f"its {place.store}"
    return model_store.StoreChoice(
        place.store, requested, f"The same content is version {version}, stored in {where}."
    )


def _manifest(
    pipeline: Pipeline,
    content: LayerContent,
    request: PublishRequest,
    label: str,
    created_at: str,
    metrics: dict,
) -> dict:
    manifest = mf.build_manifest(
        label=label,
        artifacts=content.artifacts,
        code=content.code_manifest,
        input_kind=pipeline.input_kind,
        outputs=pipeline.outputs,
        n_features=pipeline.n_features,
        versions=environment_versions(),
        created_at=created_at,
        created_by=provenance(pipeline.paths[-1].parent),
        metrics=metrics,
        description=request.description,
        input_schema=pipeline.input_schema,
        samples=content.samples,
    )
    manifest["format"] = content.format
    manifest.update(content.manifest_fields)
    trusted = sorted({g for scan in pipeline.scans for g in scan.trusted_globals})
    manifest.setdefault("trusted_globals", trusted)
    return manifest


def _unlinked(exc: AwsError, layer: str, version: int | None, label: str) -> AwsError:
    """A relink that failed after the version was published: say what exists and how to link it."""
    return type(exc)(
        f"{layer} version {version} ({label}) was published but NOT linked: {exc.message}",
        f"`mlayer rollback --version {version}` links it once you know what changed the "
        f"function (another publish-model or rollback?). {exc.hint}".strip(),
        exc.code,
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
    bucket, function = settings.artifacts.bucket, settings.function.name
    layer, link = settings.model.layer, request.link
    if request.alias and not link:
        raise UsageError(
            f"--alias {request.alias} moves the function's alias, but --no-link leaves the "
            "function alone.",
            "Drop --no-link to relink and move the alias, or drop --alias.",
        )
    alias = (request.alias or settings.model.alias or None) if link else None
    model, preprocessors = pipeline_files(settings, request)
    metrics = read_metrics(request.metrics)
    input_kind = request.input_kind or settings.model.input
    pipeline = inspect_pipeline(
        model,
        preprocessors,
        list(request.code_files),
        input_kind,
        sample=request.sample,
        trusted=request.trust,
    )
    fmt = request.format or settings.model.format
    content = layer_content(
        pipeline, fmt, request, settings.function.runtime, input_kind in (None, "auto")
    )
    config = _function_config(gw, function, required=link)
    if content.format == "onnx" and config and config.get("Runtime"):
        from mlayer.onnx.support import require_onnx_runtime

        require_onnx_runtime(config["Runtime"])  # the live function's, when it differs
    store = ArtifactStore(gw, bucket)
    lock, lock_source = find_deps_lock(store, settings.deps.layer, config)
    versions = gw.list_layer_versions(layer)
    next_version = (versions[0]["Version"] + 1) if versions else 1
    in_use = labels.labels_in_use(versions)
    first_free = next_version
    while labels.default_label(first_free) in in_use:
        first_free += 1
    created_at = now()
    manifest = _manifest(
        pipeline,
        content,
        request,
        request.label or labels.default_label(first_free),
        created_at,
        metrics,
    )
    warnings = check_compatibility(manifest, lock, lock_source, request.allow_version_mismatch)
    warnings = list(content.notes) + warnings
    content_sha = manifest["content_sha256"]
    short = mf.short_sha(content_sha)
    reuse = next(
        (v for v in versions if mf.description_sha(v.get("Description", "")) == short), None
    )

    with tempfile.TemporaryDirectory(prefix="mlayer-model-") as tmp:
        zip_path = Path(tmp) / "model-layer.zip"
        if reuse:  # same content: no zip to build, the existing version is the target
            target = reuse["LayerVersionArn"]
            zip_sha = store.layer_sha(target)
            manifest = store.manifest(zip_sha) or manifest
            new_size = store.layer_size(target)
            zipped = int(store.layer_version(target)["Content"].get("CodeSize") or 0)
            info = None
            choice = _reused_store(
                manifest, reuse["Version"], request.store or settings.model.store
            )
        else:
            target = _layer_arn_for(versions, config, layer, next_version)
            manifest, choice = _choose_store(
                store, settings, request, content, manifest, config, target
            )
            info = _model_zip(zip_path, content, manifest, choice.store)
            zip_sha, zipped, new_size = info.sha256, info.zipped_size, LayerSize(info.unzipped_size)
        plan = _plan(store, function, layer, config, target, new_size) if link else None
        tmp_plan = ephemeral.plan_ephemeral(manifest, config, function=function) if link else None
        memory = ephemeral.memory_warning(manifest, (config or {}).get("MemorySize"))
        unknown = plan and planner.unknown_size_warning(plan.unknown_sizes, plan.budget_left)
        warnings += [w for w in (memory, unknown) if w]

        def result(**kw: Any) -> PublishResult:
            fields: dict[str, Any] = dict(
                layer_name=layer,
                layer_version_arn=target,
                version=LayerVersionArn.parse(target).version,
                label=manifest["model_version"],
                content_sha256=content_sha,
                reused=bool(reuse),
                published=False,
                dry_run=request.dry_run,
                linked=plan is not None,
                plan=plan,
                outcome=None,
                zip_sha256=zip_sha,
                zipped_size=zipped,
                unzipped_size=new_size.unzipped,
                lock_source=lock_source,
                warnings=tuple(warnings),
                manifest=manifest,
                function=function,
                alias=alias,
                store=choice.store,
                store_reason=choice.reason,
                s3_objects=model_store.placement(manifest).s3_objects,
                ephemeral=tmp_plan,
                format=manifest.get("format") or "sklearn",
                input_reason=pipeline.input_reason,
                parity=(manifest.get("onnx") or {}).get("parity") if reuse else content.parity,
            )
            return PublishResult(**{**fields, **kw})

        if request.dry_run:
            return result()
        question = ("Reuse" if reuse else "Publish") + f" {layer} {manifest['model_version']}"
        question += f" and relink {function}?" if plan is not None and plan.changed else "?"
        confirm(question)

        if info is not None:
            gw.ensure_bucket(bucket)
            if request.label is None:  # claim v<N>: no concurrent publish gets the same one
                label = labels.claim_label(
                    gw, bucket, layer, first_free, content_sha, created_at, taken=in_use
                )
                if label != manifest["model_version"]:
                    manifest = {**manifest, "model_version": label}
                    info = _model_zip(zip_path, content, manifest, choice.store)
                    zip_sha, zipped = info.sha256, info.zipped_size
                    new_size = LayerSize(info.unzipped_size)
                    if plan is not None:
                        plan = _plan(store, function, layer, config or {}, target, new_size)
        if choice.store == "s3":  # the objects first (HEAD: only what is missing), then the layer
            gw.ensure_bucket(bucket)
            model_store.upload(
                gw, bucket, model_store.plan_uploads(pipeline.artifacts, pipeline.judged(Path(tmp)))
            )
        if info is not None:
            if gw.object_size(bucket, zip_key(info.sha256)) != info.zipped_size:
                gw.upload_file(str(info.path), bucket, zip_key(info.sha256))
            manifest = {**manifest, "created_at": created_at, "zip_sha256": info.sha256}
            gw.put_bytes(
                bucket,
                manifest_key(info.sha256),
                mf.to_json(manifest),
                content_type="application/json",
            )
            publish_zip = functools.partial(
                gw.publish_layer_version,
                layer,
                mf.layer_description(manifest["model_version"], content_sha),
                s3=(bucket, zip_key(info.sha256)),
            )
            made = publish_zip()
            if request.label is None:  # v<N> is version N, or a warning says why not
                made, notes = labels.land_on_label(
                    gw, layer, manifest["model_version"], made, publish_zip
                )
                warnings += notes
            if made["LayerVersionArn"] != target:  # someone published meanwhile: plan for ours
                target = made["LayerVersionArn"]
                if plan is not None:
                    plan = _plan(store, function, layer, config or {}, target, new_size)
    outcome = None
    if plan is not None and (plan.changed or alias or (tmp_plan and tmp_plan.changes)):
        settings_update = tmp_plan.update_params() if tmp_plan else {}
        try:
            outcome = Relinker(gw).apply(plan, alias=alias, settings=settings_update)
        except AwsError as exc:
            if info is None or isinstance(exc, RelinkedError):  # it names its own state
                raise
            version = LayerVersionArn.parse(target).version
            raise _unlinked(exc, layer, version, manifest["model_version"]) from exc
    return result(
        layer_version_arn=target,
        version=LayerVersionArn.parse(target).version,
        published=info is not None,
        plan=plan,
        outcome=outcome,
    )
