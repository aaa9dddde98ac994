"""rollback's decisions, pure: which version, whether it can run, the relink, /tmp, the alias.

Two pure steps around the reads (rollback_read.py): ``choose_target`` picks the version from the
layer's versions (what to read next: its manifest, its objects), then ``plan_rollback`` decides
from everything read. The target's manifest is checked against the function's dependencies
lock exactly as a publish is (compat.py). No I/O: tests/unit/test_rollback_plan.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlayer.arns import LayerVersionArn
from mlayer.errors import ModelError, NotFoundError
from mlayer.gateway.views import LayerVersion
from mlayer.onnx.support import require_onnx_runtime
from mlayer.publishing import ephemeral, model_store, planner
from mlayer.publishing.compat import check_compatibility
from mlayer.publishing.ephemeral import EphemeralPlan
from mlayer.publishing.models import FunctionLayers, LayerSize, RelinkPlan
from mlayer.publishing.publish_plan import tmp_plan
from mlayer.publishing.publish_types import FunctionView
from mlayer.publishing.resolved import ResolvedRollback


@dataclass(frozen=True)
class TargetRead:
    """What the plan needs of the chosen version and the function around it, read once."""

    function: FunctionView  # with its code's size
    target: LayerVersion
    manifest: Mapping[str, Any] | None  # None: not published by mlayer (refused)
    lock: Mapping[str, Any] | None = None
    lock_source: str = ""
    missing: tuple[str, ...] = ()  # the S3 objects it needs that are gone
    sizes: Mapping[str, LayerSize] | None = None  # the function's layers' and the target's
    alias_layers: tuple[str, ...] = ()  # the model layer's ARNs on the alias
    rollout: str | None = None  # a rollout running on the alias: what the rollback does to it


@dataclass(frozen=True)
class RollbackPlan:
    """The relink to an existing version, and everything the result reports of it."""

    relink: RelinkPlan
    ephemeral: EphemeralPlan
    from_version: int | None
    to_version: int
    label: str
    store: str
    alias_version: int | None
    alias_behind: bool  # the alias is not on the target (or a rollout's weights must go)
    warnings: tuple[str, ...]

    @property
    def noop(self) -> bool:
        return not self.relink.changed and not self.alias_behind and not self.ephemeral.changes

    def question(self, alias: str | None) -> str:
        """What ``confirm`` asks, once, before the first write."""
        function = self.relink.function
        if self.relink.changed:
            asked = f"Relink {function} from model layer version {self.from_version} to "
            return asked + f"{self.to_version}" + (f" and move alias {alias}?" if alias else "?")
        return f"Move alias {alias} of {function} to model layer version {self.to_version}?"


def live_version(layers: FunctionLayers, versions: Sequence[LayerVersion]) -> int | None:
    """The model layer's version the function carries (None: it carries none)."""
    ours = LayerVersionArn.parse(versions[0].arn) if versions else None
    live = next((a for a in layers.arns if ours and planner.same_layer(a, ours)), None)
    return LayerVersionArn.parse(live).version if live else None


def refuse_pruned(
    layer: str, version: int, record: Mapping[str, Any], versions: Sequence[LayerVersion]
) -> NotFoundError:
    """A version `mlayer prune` deleted is said to be pruned, not merely "not found"."""
    label = f" ({record['label']})" if record.get("label") else ""
    listed = ", ".join(str(v.version) for v in sorted(versions, key=lambda v: v.version))
    return NotFoundError(
        f"Layer {layer} version {version}{label} was pruned by `mlayer prune` on "
        f"{record.get('pruned_at', '?')}: a deleted layer version cannot be attached again.",
        f"Publish that model again (a new version), or pick one that exists: {listed or 'none'}.",
        "Pruned",
    )


def choose_target(
    req: ResolvedRollback,
    versions: Sequence[LayerVersion],
    live: int | None,
    pruned: Mapping[str, Any] | None = None,
) -> LayerVersion:
    """The version asked for (--version N, or the one before ``live``), which must exist."""
    if pruned is not None and req.version is not None:
        raise refuse_pruned(req.layer, req.version, pruned, versions)
    numbers = sorted(v.version for v in versions)
    if not numbers:
        raise NotFoundError(
            f"Layer {req.layer} has no versions.", "Publish one with `mlayer publish-model`."
        )
    target = planner.previous_version(numbers, live) if req.version is None else req.version
    if target not in numbers:
        listed = ", ".join(str(v) for v in numbers)
        raise NotFoundError(
            f"Layer {req.layer} has no version {target}.", f"Versions that exist: {listed}."
        )
    return next(v for v in versions if v.version == target)


def plan_rollback(req: ResolvedRollback, live: int | None, read: TargetRead) -> RollbackPlan:
    """Refuse what could not run; else the relink, /tmp, the alias's move and the warnings."""
    target, manifest, function = read.target, read.manifest, read.function
    if manifest is None:
        raise ModelError(
            f"{req.layer} version {target.version} has no mlayer manifest in s3://{req.bucket}.",
            "It was not published by mlayer (or the bucket changed); publish the model again.",
        )
    lock = dict(read.lock) if read.lock is not None else None
    warnings = check_compatibility(manifest, lock, read.lock_source, req.allow_version_mismatch)
    if manifest.get("format") == "onnx":
        require_onnx_runtime(function.runtime or req.runtime)
    tmp = tmp_plan(manifest, function, req.function)
    memory = ephemeral.memory_warning(manifest, function.memory_mb)
    warnings += [memory] if memory else []
    if read.missing:
        raise ModelError(
            f"{req.layer} version {target.version} needs {', '.join(read.missing)}, which is "
            "missing: every cold start would fail.",
            "Publish the model's files again (that uploads them), or pick another version "
            "(`mlayer history` lists what each one needs).",
        )
    relink = planner.plan_relink(
        req.function,
        function.layers,
        req.layer,
        target.arn,
        read.sizes or {},
        function_size=function.size,
    )
    unknown = planner.unknown_size_warning(relink.unknown_sizes, relink.budget_left)
    warnings += [unknown] if unknown else []
    alias_version, behind = None, False
    if req.alias:
        on_alias = read.alias_layers
        alias_version = LayerVersionArn.parse(on_alias[0]).version if on_alias else None
        behind = target.arn not in on_alias
    if read.rollout:  # a rollout on the alias: rollback aborts it
        warnings.append(read.rollout)
        behind = True  # its weights go even when the primary has the target already
    return RollbackPlan(
        relink=relink,
        ephemeral=tmp,
        from_version=live,
        to_version=target.version,
        label=str(manifest.get("model_version", "")),
        store=model_store.placement(manifest).store,
        alias_version=alias_version,
        alias_behind=behind,
        warnings=tuple(warnings),
    )
