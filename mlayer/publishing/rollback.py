"""rollback: relink an existing model-layer version (--version N or --previous). No code deploy.

The target version's manifest is checked against the function's dependencies lock (compat.py)
exactly as a publish is; the relink is planned (planner.py) before ``confirm`` and any write.
"""

from __future__ import annotations

from collections.abc import Callable

from mlayer.arns import LayerVersionArn, layer_name
from mlayer.config import Settings
from mlayer.errors import ModelError, NotFoundError, UsageError
from mlayer.gateway import Gateway
from mlayer.onnx.support import require_onnx_runtime
from mlayer.publishing import ephemeral, model_store, planner
from mlayer.publishing.compat import check_compatibility, find_deps_lock
from mlayer.publishing.models import FunctionLayers
from mlayer.publishing.publish import no_confirm
from mlayer.publishing.relink import Relinker
from mlayer.publishing.store import ArtifactStore
from mlayer.request_types import RollbackRequest
from mlayer.results.rollback import RollbackResult
from mlayer.rollout.commands import abort_for_rollback, running_rollout
from mlayer.views.inspection import live_arns


def _target_version(
    layer: str, versions: list[dict], request: RollbackRequest, live: int | None
) -> int:
    """The version asked for (--version N, or the one before ``live``), which must exist."""
    numbers = sorted(v["Version"] for v in versions)
    if not numbers:
        raise NotFoundError(
            f"Layer {layer} has no versions.", "Publish one with `mlayer publish-model`."
        )
    target = planner.previous_version(numbers, live) if request.previous else int(request.version)
    if target not in numbers:
        listed = ", ".join(str(v) for v in numbers)
        raise NotFoundError(
            f"Layer {layer} has no version {target}.", f"Versions that exist: {listed}."
        )
    return target


def _refuse_pruned(gw: Gateway, bucket: str, layer: str, version: int, versions) -> None:
    """A version `mlayer prune` deleted is said to be pruned, not merely "not found"."""
    from mlayer.prune.read import pruned_marker

    record = pruned_marker(gw, bucket, layer, version)
    if record is None:
        return
    label = f" ({record['label']})" if record.get("label") else ""
    listed = ", ".join(str(v["Version"]) for v in sorted(versions, key=lambda v: v["Version"]))
    raise NotFoundError(
        f"Layer {layer} version {version}{label} was pruned by `mlayer prune` on "
        f"{record.get('pruned_at', '?')}: a deleted layer version cannot be attached again.",
        f"Publish that model again (a new version), or pick one that exists: {listed or 'none'}.",
        "Pruned",
    )


def rollback(
    gw: Gateway,
    settings: Settings,
    request: RollbackRequest,
    *,
    confirm: Callable[[str], None] = no_confirm,
) -> RollbackResult:
    """Relink the function (and move the alias) to an existing model-layer version."""
    bucket, function, layer = (
        settings.artifacts.bucket,
        settings.function.name,
        settings.model.layer,
    )
    alias = request.alias or settings.model.alias or None
    if (request.version is None) == (not request.previous):
        raise UsageError(
            "Pass exactly one of --version N and --previous.", "See `mlayer history` for versions."
        )
    config = gw.get_function_configuration(function)
    current = FunctionLayers.from_configuration(config)
    versions = gw.list_layer_versions(layer)
    ours = LayerVersionArn.parse(versions[0]["LayerVersionArn"]) if versions else None
    live_arn = next((a for a in current.arns if ours and planner.same_layer(a, ours)), None)
    live = LayerVersionArn.parse(live_arn).version if live_arn else None
    if request.version is not None and request.version not in {v["Version"] for v in versions}:
        _refuse_pruned(gw, bucket, layer, int(request.version), versions)
    target_version = _target_version(layer, versions, request, live)
    target = next(v["LayerVersionArn"] for v in versions if v["Version"] == target_version)
    store = ArtifactStore(gw, bucket)
    manifest = store.manifest(store.layer_sha(target))
    if manifest is None:
        raise ModelError(
            f"{layer} version {target_version} has no mlayer manifest in s3://{bucket}.",
            "It was not published by mlayer (or the bucket changed); publish the model again.",
        )
    lock, lock_source = find_deps_lock(store, settings.deps.layer, config)
    warnings = check_compatibility(manifest, lock, lock_source, request.allow_version_mismatch)
    if manifest.get("format") == "onnx":
        require_onnx_runtime(config.get("Runtime") or settings.function.runtime)
    tmp_plan = ephemeral.plan_ephemeral(manifest, config, function=function)
    memory = ephemeral.memory_warning(manifest, config.get("MemorySize"))
    place = model_store.placement(manifest)
    warnings += [memory] if memory else []
    gone = model_store.missing_objects(gw, place)
    if gone:
        raise ModelError(
            f"{layer} version {target_version} needs {', '.join(gone)}, which is missing: "
            "every cold start would fail.",
            "Publish the model's files again (that uploads them), or pick another version "
            "(`mlayer history` lists what each one needs).",
        )
    sizes = store.layer_sizes((*current.arns, target), {})
    plan = planner.plan_relink(
        function, current, layer, target, sizes, function_size=store.function_size(config)
    )
    unknown = planner.unknown_size_warning(plan.unknown_sizes, plan.budget_left)
    warnings += [unknown] if unknown else []
    alias_version = None
    alias_behind = False
    if alias:
        on_alias = [a for a in live_arns(gw, function, alias) if layer_name(a) == layer]
        alias_version = LayerVersionArn.parse(on_alias[0]).version if on_alias else None
        alias_behind = target not in on_alias
    rollout = running_rollout(gw, settings, alias)  # a rollout on the alias: rollback aborts it
    if rollout:
        warnings.append(rollout)
        alias_behind = True  # its weights go even when the primary has the target already
    base = dict(
        function=function,
        layer_name=layer,
        from_version=live,
        to_version=target_version,
        label=manifest.get("model_version", ""),
        plan=plan,
        dry_run=request.dry_run,
        alias=alias,
        alias_version=alias_version,
        warnings=tuple(warnings),
        store=place.store,
        ephemeral_mb=tmp_plan.size_mb,
    )
    if not plan.changed and not alias_behind and not tmp_plan.changes:
        return RollbackResult(**base, noop=True)
    if request.dry_run:
        reuse = None
        if alias:  # the version the alias would go to, when one already carries all of it
            after = {"Layers": [{"Arn": a} for a in plan.after], **tmp_plan.update_params()}
            reuse = Relinker(gw).matching_version(function, {**config, **after})
        return RollbackResult(**base, noop=False, alias_reuse=reuse)
    if plan.changed:
        question = f"Relink {function} from model layer version {live} to {target_version}"
        question += f" and move alias {alias}?" if alias else "?"
    else:
        question = f"Move alias {alias} of {function} to model layer version {target_version}?"
    confirm(question)
    abort_for_rollback(gw, settings, alias)
    outcome = Relinker(gw).apply(plan, alias=alias, settings=tmp_plan.update_params())
    return RollbackResult(**base, noop=False, outcome=outcome)
