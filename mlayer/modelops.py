"""publish-model, rollback, history and status: the model-layer orchestration behind api.py.

Every decision is made before the first write: the files are checked, the dependencies lock
is compared, the relink is planned (pure, planner.py); only then, after ``confirm``, does
anything reach AWS. So a refusal leaves the function exactly as it was.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlayer import manifest as mf
from mlayer import planner
from mlayer.arns import LayerVersionArn, layer_name
from mlayer.artifacts import Pipeline, environment_versions, inspect_pipeline, provenance, utc_now
from mlayer.errors import ModelError, NotFoundError, UsageError
from mlayer.gateway import Gateway
from mlayer.models import FunctionLayers, LayerSize, RelinkOutcome, RelinkPlan
from mlayer.packaging import ZipInfo, write_zip
from mlayer.relink import Relinker
from mlayer.report import human_bytes, table
from mlayer.store import ArtifactStore, manifest_key, zip_key

Confirm = Callable[[str], None]


def _no_confirm(question: str) -> None:
    return None


# -- results ------------------------------------------------------------------------------------
def _plan_lines(plan: RelinkPlan | None) -> list[str]:
    if plan is None:
        return []
    if not plan.changed:
        return [f"{plan.function}: {plan.new_arn} is already live; nothing to relink."]
    approx = "" if plan.sizes_exact else " (at least; some sizes are zipped sizes)"
    return [
        f"Relink {plan.function}:",
        f"  {plan.old_arn or '(no model layer)'}",
        f"  -> {plan.new_arn}",
        f"  layers: {len(plan.after)}/{plan.max_layers}, unzipped {human_bytes(plan.total_unzipped)}{approx}, "
        f"budget left {human_bytes(plan.budget_left)}",
    ]


@dataclass(frozen=True)
class PublishResult:
    layer_name: str
    layer_version_arn: str
    version: int | None
    label: str
    content_sha256: str
    reused: bool
    published: bool
    dry_run: bool
    linked: bool
    plan: RelinkPlan | None
    outcome: RelinkOutcome | None
    zip_sha256: str
    zipped_size: int
    unzipped_size: int
    lock_source: str
    warnings: tuple[str, ...] = ()
    manifest: dict = field(default_factory=dict)

    def render(self) -> str:
        lines = [f"WARNING: {w}" for w in self.warnings]
        what = f"{self.layer_name} version {self.version if self.version is not None else '(new)'} ({self.label}, sha:{mf.short_sha(self.content_sha256)})"
        if self.dry_run:
            verb = "Would reuse" if self.reused else "Would publish"
        else:
            verb = "Reused" if self.reused else "Published"
        lines.append(
            f"{verb} {what}: {human_bytes(self.zipped_size)} zipped, {human_bytes(self.unzipped_size)} unzipped."
        )
        lines += _plan_lines(self.plan)
        if self.dry_run:
            lines.append("Dry run: nothing was changed.")
        elif self.linked and self.plan is not None and self.plan.changed:
            lines.append(f"Relinked {self.plan.function}.")
        if self.outcome and self.outcome.alias:
            lines.append(
                f"Alias {self.outcome.alias} -> function version {self.outcome.function_version}."
            )
        return "\n".join(lines)


@dataclass(frozen=True)
class RollbackResult:
    function: str
    layer_name: str
    from_version: int | None
    to_version: int
    label: str
    plan: RelinkPlan
    dry_run: bool
    noop: bool
    outcome: RelinkOutcome | None = None

    def render(self) -> str:
        if self.noop:
            return f"Version {self.to_version} ({self.label}) is already live on {self.function}; nothing to do."
        lines = [
            f"Roll back {self.function}: model layer version {self.from_version} -> {self.to_version} ({self.label})."
        ]
        lines += _plan_lines(self.plan)
        lines.append("Dry run: nothing was changed." if self.dry_run else "Done.")
        if self.outcome and self.outcome.alias:
            lines.append(
                f"Alias {self.outcome.alias} -> function version {self.outcome.function_version}."
            )
        return "\n".join(lines)


@dataclass(frozen=True)
class HistoryRow:
    version: int
    arn: str
    label: str
    short_sha: str
    created: str
    zipped_size: int
    unzipped_size: int | None
    sklearn_version: str | None
    live: bool
    live_on_alias: bool
    description: str


@dataclass(frozen=True)
class HistoryResult:
    layer_name: str
    function: str
    alias: str | None
    versions: tuple[HistoryRow, ...]

    def render(self) -> str:
        if not self.versions:
            return f"Layer {self.layer_name} has no versions yet. Publish one with `mlayer publish-model`."
        rows = []
        for r in self.versions:
            live = ["live"] if r.live else []
            if r.live_on_alias:
                live.append(self.alias or "alias")
            rows.append(
                [
                    r.version,
                    r.label,
                    r.short_sha,
                    r.created[:19],
                    human_bytes(r.zipped_size),
                    human_bytes(r.unzipped_size),
                    r.sklearn_version or "-",
                    ",".join(live),
                ]
            )
        return f"{self.layer_name} (function {self.function})\n" + table(
            ["version", "label", "sha", "created", "zipped", "unzipped", "sklearn", "live"], rows
        )


@dataclass(frozen=True)
class StatusLayer:
    arn: str
    name: str | None
    version: int | None
    role: str  # deps | model | other
    zipped_size: int | None
    unzipped_size: int
    exact: bool
    label: str | None = None


@dataclass(frozen=True)
class StatusResult:
    function: str
    state: str | None
    last_update_status: str | None
    runtime: str | None
    architectures: tuple[str, ...]
    code_size: int
    layers: tuple[StatusLayer, ...]
    total_unzipped: int
    budget_left: int
    max_layers: int

    def render(self) -> str:
        head = (
            f"{self.function}: state {self.state or '-'}, last update {self.last_update_status or '-'}, "
            f"{self.runtime or '-'} {'/'.join(self.architectures) or '-'}"
        )
        rows = [
            [
                i + 1,
                ly.name or ly.arn,
                ly.version or "-",
                ly.role,
                ly.label or "",
                human_bytes(ly.zipped_size),
                human_bytes(ly.unzipped_size) + ("" if ly.exact else "+"),
            ]
            for i, ly in enumerate(self.layers)
        ]
        body = (
            table(["#", "layer", "version", "role", "label", "zipped", "unzipped"], rows)
            if rows
            else "No layers."
        )
        return (
            f"{head}\n{body}\nLayers {len(self.layers)}/{self.max_layers}; code {human_bytes(self.code_size)}; "
            f"total unzipped {human_bytes(self.total_unzipped)}; budget left {human_bytes(self.budget_left)}."
        )


# -- shared steps --------------------------------------------------------------------------------
def find_deps_lock(
    store: ArtifactStore, deps_layer: str, config: Mapping[str, Any] | None
) -> tuple[dict | None, str]:
    """The lock of the function's dependencies layer, else of the newest deps version, else None."""
    for layer in (config or {}).get("Layers") or []:
        if layer_name(layer["Arn"]) == deps_layer:
            lock = store.lock(store.layer_sha(layer["Arn"]))
            if lock is not None:
                return lock, layer["Arn"]
    versions = store.gw.list_layer_versions(deps_layer)
    if versions:
        arn = versions[0]["LayerVersionArn"]
        lock = store.lock(store.layer_sha(arn))
        if lock is not None:
            return lock, f"{arn} (newest; the function does not use it)"
    return None, ""


def check_compatibility(
    manifest: Mapping[str, Any], lock: dict | None, lock_source: str, allow_mismatch: bool
) -> list[str]:
    """Raise ModelError for what cannot work; return the warnings of what --allow-version-mismatch let through."""
    hard, soft = mf.compatibility_problems(manifest, lock)
    if hard:
        raise ModelError(
            hard[0] + (f" ({len(hard) - 1} more)" if len(hard) > 1 else ""),
            "Put custom code in a module, save the model again importing it from there, and pass "
            "--code module.py; or add the missing package to the dependencies layer.",
        )
    if lock is None:
        if not allow_mismatch:
            raise ModelError(
                "No dependencies-layer lock found, so mlayer cannot check that the model will load on Lambda.",
                "Run `mlayer build-deps --publish` first, or pass --allow-version-mismatch to publish unchecked.",
            )
        return [
            "No dependencies-layer lock was found: versions were NOT checked (--allow-version-mismatch)."
        ]
    if soft and not allow_mismatch:
        raise ModelError(
            soft[0]
            + (f" ({len(soft) - 1} more)" if len(soft) > 1 else "")
            + f" [layer: {lock_source}]",
            "Retrain or re-save the model with the layer's versions, or rebuild the layer "
            "(`mlayer build-deps --publish`); --allow-version-mismatch overrides this (unsafe).",
        )
    return [f"{p} (--allow-version-mismatch)" for p in soft]


def _function_config(gw: Gateway, function: str, required: bool) -> dict | None:
    if required:
        return gw.get_function_configuration(function)
    try:
        return gw.get_function_configuration(function)
    except NotFoundError:
        return None


def _sizes(
    store: ArtifactStore, arns: Sequence[str], extra: Mapping[str, LayerSize]
) -> dict[str, LayerSize]:
    sizes = dict(extra)
    for arn in arns:
        if arn not in sizes:
            sizes[arn] = (
                store.layer_size(arn)
                if LayerVersionArn.try_parse(arn)
                else LayerSize(0, exact=False)
            )
    return sizes


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


def _model_zip(dest: Path, pipeline: Pipeline, manifest: dict) -> ZipInfo:
    entries: list[tuple[str, Path | bytes]] = [("mlayer/manifest.json", mf.to_json(manifest))]
    entries += [
        (f"mlayer/{a.file}", p) for a, p in zip(pipeline.artifacts, pipeline.paths, strict=True)
    ]
    entries += [(c.file, c.path) for c in pipeline.code]
    return write_zip(dest, entries)


# -- publish-model -------------------------------------------------------------------------------
def publish_model(
    gw: Gateway,
    *,
    bucket: str,
    function: str,
    layer: str,
    deps_layer: str,
    model: str | Path,
    preprocessors: Sequence[str | Path] = (),
    code_files: Sequence[str | Path] = (),
    label: str | None = None,
    input_kind: str | None = None,
    description: str = "",
    metrics: Mapping[str, Any] | None = None,
    alias: str | None = None,
    link: bool = True,
    allow_version_mismatch: bool = False,
    dry_run: bool = False,
    confirm: Confirm = _no_confirm,
    now: Callable[[], str] = utc_now,
) -> PublishResult:
    pipeline = inspect_pipeline(model, preprocessors, code_files, input_kind)
    config = _function_config(gw, function, required=link)
    store = ArtifactStore(gw, bucket)
    lock, lock_source = find_deps_lock(store, deps_layer, config)
    versions = gw.list_layer_versions(layer)
    next_version = (versions[0]["Version"] + 1) if versions else 1
    manifest = mf.build_manifest(
        label=label or f"v{next_version}",
        artifacts=pipeline.artifacts,
        code=[{"file": c.file, "sha256": c.sha256, "size": c.size} for c in pipeline.code],
        input_kind=pipeline.input_kind,
        outputs=pipeline.outputs,
        n_features=pipeline.n_features,
        versions=environment_versions(),
        created_at=now(),
        created_by=provenance(pipeline.paths[-1].parent),
        metrics=metrics,
        description=description,
    )
    warnings = check_compatibility(manifest, lock, lock_source, allow_version_mismatch)
    content = manifest["content_sha256"]
    reuse = next(
        (
            v
            for v in versions
            if mf.description_sha(v.get("Description", "")) == mf.short_sha(content)
        ),
        None,
    )

    with tempfile.TemporaryDirectory(prefix="mlayer-model-") as tmp:
        if reuse:  # same content: no zip to build, the existing version is the target
            target = reuse["LayerVersionArn"]
            zip_sha = store.layer_sha(target)
            manifest = store.manifest(zip_sha) or manifest
            new_size = store.layer_size(target)
            zipped = int(store.layer_version(target)["Content"].get("CodeSize") or 0)
            info = None
        else:
            info = _model_zip(Path(tmp) / "model-layer.zip", pipeline, manifest)
            target = _layer_arn_for(versions, config, layer, next_version)
            zip_sha, zipped, new_size = info.sha256, info.zipped_size, LayerSize(info.unzipped_size)
        plan = None
        if link:
            assert config is not None
            current = FunctionLayers.from_configuration(config)
            sizes = _sizes(store, current.arns, {target: new_size})
            plan = planner.plan_publish(
                function, current, layer, target, sizes, function_size=store.function_size(config)
            )

        def result(**kw: Any) -> PublishResult:
            base = dict(
                layer_name=layer,
                layer_version_arn=target,
                version=LayerVersionArn.parse(target).version,
                label=manifest["model_version"],
                content_sha256=content,
                reused=bool(reuse),
                published=False,
                dry_run=dry_run,
                linked=False,
                plan=plan,
                outcome=None,
                zip_sha256=zip_sha,
                zipped_size=zipped,
                unzipped_size=new_size.unzipped,
                lock_source=lock_source,
                warnings=tuple(warnings),
                manifest=manifest,
            )
            base.update(kw)
            return PublishResult(**base)

        if dry_run:
            return result()
        question = ("Reuse" if reuse else "Publish") + f" {layer} {manifest['model_version']}"
        question += f" and relink {function}?" if plan is not None and plan.changed else "?"
        confirm(question)

        published = False
        if info is not None:
            gw.ensure_bucket(bucket)
            gw.upload_file(str(info.path), bucket, zip_key(info.sha256))
            gw.put_bytes(
                bucket,
                manifest_key(info.sha256),
                mf.to_json(manifest),
                content_type="application/json",
            )
            made = gw.publish_layer_version(
                layer,
                mf.layer_description(manifest["model_version"], content),
                s3=(bucket, zip_key(info.sha256)),
            )
            published = True
            if (
                made["LayerVersionArn"] != target
            ):  # someone published meanwhile: plan for what we got
                target = made["LayerVersionArn"]
                if plan is not None:
                    current = FunctionLayers.from_configuration(config or {})
                    sizes = _sizes(store, current.arns, {target: new_size})
                    plan = planner.plan_publish(
                        function,
                        current,
                        layer,
                        target,
                        sizes,
                        function_size=store.function_size(config or {}),
                    )
    outcome = None
    if plan is not None and (plan.changed or alias):
        outcome = Relinker(gw).apply(plan, alias=alias)
    return result(
        layer_version_arn=target,
        version=LayerVersionArn.parse(target).version,
        published=published,
        linked=plan is not None,
        plan=plan,
        outcome=outcome,
    )


# -- rollback ------------------------------------------------------------------------------------
def rollback(
    gw: Gateway,
    *,
    bucket: str,
    function: str,
    layer: str,
    deps_layer: str,
    version: int | None = None,
    previous: bool = False,
    alias: str | None = None,
    allow_version_mismatch: bool = False,
    dry_run: bool = False,
    confirm: Confirm = _no_confirm,
) -> RollbackResult:
    if (version is None) == (not previous):
        raise UsageError(
            "Pass exactly one of --version N and --previous.", "See `mlayer history` for versions."
        )
    config = gw.get_function_configuration(function)
    current = FunctionLayers.from_configuration(config)
    live_arn = next((a for a in current.arns if layer_name(a) == layer), None)
    live = LayerVersionArn.parse(live_arn).version if live_arn else None
    versions = gw.list_layer_versions(layer)
    by_number = {v["Version"]: v for v in versions}
    if not versions:
        raise NotFoundError(
            f"Layer {layer} has no versions.", "Publish one with `mlayer publish-model`."
        )
    target_version = planner.previous_version(sorted(by_number), live) if previous else int(version)
    if target_version not in by_number:
        listed = ", ".join(str(v) for v in sorted(by_number))
        raise NotFoundError(
            f"Layer {layer} has no version {target_version}.", f"Versions that exist: {listed}."
        )
    target = by_number[target_version]["LayerVersionArn"]
    store = ArtifactStore(gw, bucket)
    manifest = store.manifest(store.layer_sha(target))
    if manifest is None:
        raise ModelError(
            f"{layer} version {target_version} has no mlayer manifest in s3://{bucket}.",
            "It was not published by mlayer (or the bucket changed); publish the model again.",
        )
    lock, lock_source = find_deps_lock(store, deps_layer, config)
    check_compatibility(manifest, lock, lock_source, allow_version_mismatch)
    sizes = _sizes(store, (*current.arns, target), {})
    plan = planner.plan_rollback(
        function, current, layer, target, sizes, function_size=store.function_size(config)
    )
    base = dict(
        function=function,
        layer_name=layer,
        from_version=live,
        to_version=target_version,
        label=manifest.get("model_version", ""),
        plan=plan,
        dry_run=dry_run,
    )
    if not plan.changed:
        return RollbackResult(**base, noop=True)
    if dry_run:
        return RollbackResult(**base, noop=False)
    confirm(f"Relink {function} from model layer version {live} to {target_version}?")
    outcome = Relinker(gw).apply(plan, alias=alias)
    return RollbackResult(**base, noop=False, outcome=outcome)


# -- history / status ----------------------------------------------------------------------------
def _live_arns(gw: Gateway, function: str, qualifier: str | None = None) -> tuple[str, ...]:
    try:
        return FunctionLayers.from_configuration(
            gw.get_function_configuration(function, qualifier)
        ).arns
    except NotFoundError:
        return ()


def history(
    gw: Gateway, *, bucket: str, function: str, layer: str, alias: str | None = None
) -> HistoryResult:
    store = ArtifactStore(gw, bucket)
    live = set(_live_arns(gw, function))
    on_alias = set(_live_arns(gw, function, alias)) if alias else set()
    rows = []
    for v in gw.list_layer_versions(layer):
        arn = v["LayerVersionArn"]
        detail = store.layer_version(arn)
        sha = store.layer_sha(arn)
        manifest = store.manifest(sha) or {}
        desc = v.get("Description", "") or ""
        arts = manifest.get("artifacts") or [{}]
        rows.append(
            HistoryRow(
                version=v["Version"],
                arn=arn,
                label=manifest.get("model_version") or desc.split(" sha:")[0],
                short_sha=mf.short_sha(manifest.get("content_sha256", ""))
                or (mf.description_sha(desc) or ""),
                created=str(v.get("CreatedDate", "")),
                zipped_size=int(detail["Content"].get("CodeSize") or 0),
                unzipped_size=store.zip_unzipped_size(sha),
                sklearn_version=arts[-1].get("sklearn_version"),
                live=arn in live,
                live_on_alias=arn in on_alias,
                description=desc,
            )
        )
    return HistoryResult(layer_name=layer, function=function, alias=alias, versions=tuple(rows))


def status(
    gw: Gateway, *, bucket: str, function: str, deps_layer: str, model_layer: str
) -> StatusResult:
    from mlayer.runtimes import MAX_LAYERS, MAX_UNZIPPED_BYTES

    config = gw.get_function_configuration(function)
    store = ArtifactStore(gw, bucket)
    code = store.function_size(config)
    layers = []
    for entry in config.get("Layers") or []:
        arn = entry["Arn"]
        parsed = LayerVersionArn.try_parse(arn)
        size = (
            store.layer_size(arn)
            if parsed
            else LayerSize(int(entry.get("CodeSize") or 0), exact=False)
        )
        role = {deps_layer: "deps", model_layer: "model"}.get(
            parsed.name if parsed else "", "other"
        )
        label = None
        if role == "model":
            label = (store.manifest(store.layer_sha(arn)) or {}).get("model_version")
        layers.append(
            StatusLayer(
                arn,
                parsed.name if parsed else None,
                parsed.version if parsed else None,
                role,
                entry.get("CodeSize"),
                size.unzipped,
                size.exact,
                label,
            )
        )
    total = code.unzipped + sum(ly.unzipped_size for ly in layers)
    return StatusResult(
        function=function,
        state=config.get("State"),
        last_update_status=config.get("LastUpdateStatus"),
        runtime=config.get("Runtime"),
        architectures=tuple(config.get("Architectures") or ()),
        code_size=code.unzipped,
        layers=tuple(layers),
        total_unzipped=total,
        budget_left=MAX_UNZIPPED_BYTES - total,
        max_layers=MAX_LAYERS,
    )


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
