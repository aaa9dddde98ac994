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
def _would_move_alias(alias: str) -> str:
    return f"Would publish a function version and move alias {alias} to it."


def _moved_alias(outcome: RelinkOutcome) -> str:
    return f"Alias {outcome.alias} -> function version {outcome.function_version}."


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


def _outcome_fields(outcome: RelinkOutcome | None) -> dict:
    return {
        "alias": outcome.alias if outcome else None,
        "function_version": outcome.function_version if outcome else None,
        "outcome": None
        if outcome is None
        else {
            "revision_id": outcome.revision_id,
            "attempts": outcome.attempts,
            "function_version": outcome.function_version,
            "alias": outcome.alias,
        },
    }


@dataclass(frozen=True)
class PublishResult:
    """What publish-model did. ``to_dict`` is the ``--json`` contract (docs/FORMATS.md)."""

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
    function: str | None = None
    alias: str | None = None

    @property
    def relinked(self) -> bool:
        """True when this run changed the function's layers."""
        return bool(self.outcome and self.plan is not None and self.plan.changed)

    def to_dict(self) -> dict:
        return {
            "function": self.function if self.linked else None,
            "layer_name": self.layer_name,
            "layer_version_arn": self.layer_version_arn,
            "version": self.version,
            "label": self.label,
            "content_sha256": self.content_sha256,
            "short_sha": mf.short_sha(self.content_sha256),
            "zip_sha256": self.zip_sha256,
            "zipped_size": self.zipped_size,
            "unzipped_size": self.unzipped_size,
            "reused": self.reused,
            "published": self.published,
            "dry_run": self.dry_run,
            "linked": self.linked,
            "relinked": self.relinked,
            "plan": self.plan.to_dict() if self.plan is not None else None,
            **_outcome_fields(self.outcome),
            "alias": self.alias if self.linked else None,
            "lock_source": self.lock_source,
            "warnings": list(self.warnings),
            "manifest": self.manifest,
        }

    def render(self) -> str:
        lines: list[str] = []  # warnings go to stderr (cli.App.emit)
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
            if self.alias and self.linked:
                lines.append(_would_move_alias(self.alias))
            lines.append("Dry run: nothing was changed.")
        elif self.linked and self.plan is not None and self.plan.changed:
            lines.append(f"Relinked {self.plan.function}.")
        if self.outcome and self.outcome.alias:
            lines.append(_moved_alias(self.outcome))
        return "\n".join(lines)


@dataclass(frozen=True)
class RollbackResult:
    """What rollback did. ``to_dict`` is the ``--json`` contract (docs/FORMATS.md)."""

    function: str
    layer_name: str
    from_version: int | None
    to_version: int
    label: str
    plan: RelinkPlan
    dry_run: bool
    noop: bool
    outcome: RelinkOutcome | None = None
    alias: str | None = None
    alias_version: int | None = None  # model-layer version on the alias before the rollback
    warnings: tuple[str, ...] = ()

    @property
    def relinked(self) -> bool:
        return bool(self.outcome and self.plan.changed)

    def to_dict(self) -> dict:
        return {
            "function": self.function,
            "layer_name": self.layer_name,
            "layer_version_arn": self.plan.new_arn,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "label": self.label,
            "noop": self.noop,
            "dry_run": self.dry_run,
            "relinked": self.relinked,
            "plan": self.plan.to_dict(),
            **_outcome_fields(self.outcome),
            "alias": self.alias,
            "alias_from_version": self.alias_version,
            "warnings": list(self.warnings),
        }

    def render(self) -> str:
        lines: list[str] = []  # warnings go to stderr (cli.App.emit)
        if self.noop:
            where = f"{self.function}" + (f" and on alias {self.alias}" if self.alias else "")
            return "\n".join(
                [
                    *lines,
                    f"Version {self.to_version} ({self.label}) is already live on {where}; nothing to do.",
                ]
            )
        verb = (
            "Roll forward"
            if self.from_version is not None and self.to_version > self.from_version
            else "Roll back"
        )
        if self.plan.changed:
            lines.append(
                f"{verb} {self.function}: model layer version {self.from_version} -> {self.to_version} ({self.label})."
            )
            lines += _plan_lines(self.plan)
        else:
            lines.append(
                f"Version {self.to_version} ({self.label}) is already live on {self.function}; "
                + (
                    f"alias {self.alias} is on version {self.alias_version}: moving it."
                    if self.alias_version
                    else f"alias {self.alias} does not point at it yet: moving it."
                )
            )
        if self.dry_run and self.alias:
            lines.append(_would_move_alias(self.alias))
        lines.append("Dry run: nothing was changed." if self.dry_run else "Done.")
        if self.outcome and self.outcome.alias:
            lines.append(_moved_alias(self.outcome))
        return "\n".join(lines)


@dataclass(frozen=True)
class HistoryRow:
    version: int
    arn: str
    label: str
    short_sha: str
    content_sha256: str | None
    created: str
    zipped_size: int
    unzipped_size: int | None
    sklearn_version: str | None
    live: bool
    live_on_alias: bool
    description: str


@dataclass(frozen=True)
class HistoryResult:
    """Every model-layer version. ``to_dict`` is the ``--json`` contract (docs/FORMATS.md)."""

    layer_name: str
    function: str
    alias: str | None
    versions: tuple[HistoryRow, ...]
    warnings: tuple[str, ...] = ()

    @property
    def live_version(self) -> int | None:
        return next((r.version for r in self.versions if r.live), None)

    @property
    def alias_version(self) -> int | None:
        return next((r.version for r in self.versions if r.live_on_alias), None)

    def to_dict(self) -> dict:
        return {
            "layer_name": self.layer_name,
            "function": self.function,
            "alias": self.alias,
            "live_version": self.live_version,
            "alias_version": self.alias_version,
            "versions": [
                {
                    "version": r.version,
                    "layer_version_arn": r.arn,
                    "label": r.label,
                    "short_sha": r.short_sha,
                    "content_sha256": r.content_sha256,
                    "created": r.created,
                    "zipped_size": r.zipped_size,
                    "unzipped_size": r.unzipped_size,
                    "sklearn_version": r.sklearn_version,
                    "live": r.live,
                    "live_on_alias": r.live_on_alias,
                    "description": r.description,
                }
                for r in self.versions
            ],
            "warnings": list(self.warnings),
        }

    def render(self) -> str:
        notes: list[str] = []  # warnings go to stderr (cli.App.emit)
        if not self.versions:
            return "\n".join(
                [
                    *notes,
                    f"Layer {self.layer_name} has no versions yet. Publish one with `mlayer publish-model`.",
                ]
            )
        rows = []
        for r in self.versions:
            live = [self.function] if r.live else []
            if r.live_on_alias:
                live.append(f"alias {self.alias}")
            rows.append(
                [
                    r.version,
                    r.label,
                    r.short_sha,
                    r.created[:19],
                    human_bytes(r.zipped_size),
                    human_bytes(r.unzipped_size),
                    r.sklearn_version or "-",
                    ", ".join(live),
                ]
            )
        head = f"{self.layer_name} (function {self.function}" + (
            f", alias {self.alias})" if self.alias else ")"
        )
        return "\n".join(
            [
                *notes,
                head,
                table(
                    [
                        "version",
                        "label",
                        "sha",
                        "created",
                        "zipped",
                        "unzipped",
                        "sklearn",
                        "live on",
                    ],
                    rows,
                ),
            ]
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
    limit_bytes: int = 0

    @property
    def model_layer(self) -> StatusLayer | None:
        return next((ly for ly in self.layers if ly.role == "model"), None)

    def to_dict(self) -> dict:
        model = self.model_layer
        return {
            "function": self.function,
            "state": self.state,
            "last_update_status": self.last_update_status,
            "runtime": self.runtime,
            "architectures": list(self.architectures),
            "code_size": self.code_size,
            "layers": [
                {
                    "arn": ly.arn,
                    "name": ly.name,
                    "version": ly.version,
                    "role": ly.role,
                    "label": ly.label,
                    "zipped_size": ly.zipped_size,
                    "unzipped_size": ly.unzipped_size,
                    "exact": ly.exact,
                }
                for ly in self.layers
            ],
            "layer_count": len(self.layers),
            "max_layers": self.max_layers,
            "total_unzipped": self.total_unzipped,
            "limit_bytes": self.limit_bytes,
            "budget_left": self.budget_left,
            "model_version": model.version if model else None,
            "model_label": model.label if model else None,
        }

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
    """The lock of the function's dependencies layer; when the function carries none (or does
    not exist yet), the newest deps version's; else None.

    A deps layer on the function without a lock in the bucket gives None, never another
    version's lock: the check must be against what the function really runs with.
    """
    for layer in (config or {}).get("Layers") or []:
        if layer_name(layer["Arn"]) == deps_layer:
            lock = store.lock(store.layer_sha(layer["Arn"]))
            return lock, (layer["Arn"] if lock is not None else "")
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
    if alias and not link:
        raise UsageError(
            f"--alias {alias} moves the function's alias, but --no-link leaves the function alone.",
            "Drop --no-link to relink and move the alias, or drop --alias.",
        )
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
                alias=alias or None,
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
    warnings = check_compatibility(manifest, lock, lock_source, allow_version_mismatch)
    sizes = _sizes(store, (*current.arns, target), {})
    plan = planner.plan_rollback(
        function, current, layer, target, sizes, function_size=store.function_size(config)
    )
    alias_version = None
    alias_behind = False
    if alias:
        on_alias = [a for a in _live_arns(gw, function, alias) if layer_name(a) == layer]
        alias_version = LayerVersionArn.parse(on_alias[0]).version if on_alias else None
        alias_behind = target not in on_alias
    base = dict(
        function=function,
        layer_name=layer,
        from_version=live,
        to_version=target_version,
        label=manifest.get("model_version", ""),
        plan=plan,
        dry_run=dry_run,
        alias=alias or None,
        alias_version=alias_version,
        warnings=tuple(warnings),
    )
    if not plan.changed and not alias_behind:
        return RollbackResult(**base, noop=True)
    if dry_run:
        return RollbackResult(**base, noop=False)
    if plan.changed:
        question = f"Relink {function} from model layer version {live} to {target_version}"
        question += f" and move alias {alias}?" if alias else "?"
    else:
        question = f"Move alias {alias} of {function} to model layer version {target_version}?"
    confirm(question)
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
    warnings = []
    try:
        live = set(FunctionLayers.from_configuration(gw.get_function_configuration(function)).arns)
    except NotFoundError:
        live = set()
        warnings.append(f"Function {function} does not exist: no version is marked live.")
    on_alias: set[str] = set()
    if alias and not warnings:
        if gw.get_alias(function, alias) is None:
            warnings.append(
                f"Function {function} has no alias {alias}: no version is marked on it."
            )
        else:
            on_alias = set(_live_arns(gw, function, alias))
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
                content_sha256=manifest.get("content_sha256"),
                created=str(v.get("CreatedDate", "")),
                zipped_size=int(detail["Content"].get("CodeSize") or 0),
                unzipped_size=store.zip_unzipped_size(sha),
                sklearn_version=arts[-1].get("sklearn_version"),
                live=arn in live,
                live_on_alias=arn in on_alias,
                description=desc,
            )
        )
    return HistoryResult(
        layer_name=layer,
        function=function,
        alias=alias,
        versions=tuple(rows),
        warnings=tuple(warnings),
    )


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
        limit_bytes=MAX_UNZIPPED_BYTES,
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
