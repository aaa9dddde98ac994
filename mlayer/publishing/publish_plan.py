"""publish-model's decisions, pure: the label, the store, the target version, the relink, /tmp.

Plain values in (the resolved request, the model's facts, the live state read once), a frozen
plan out; no I/O, so every rule is unit-tested without AWS (tests/unit/test_publish_plan.py).
The plan comes in two halves around the layer zip, whose size only the zip gives:
``plan_publish`` (label, manifest, compatibility, reuse or target, store) before it is built,
``plan_link`` (relink, /tmp, the warnings that depend on them) after. When the world answers
differently during the apply (another label claimed, another version number given), the apply
asks ``relink_for`` again with the same read: a re-plan, never a re-read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlayer.arns import LayerVersionArn
from mlayer.errors import UsageError
from mlayer.gateway.views import LayerVersion
from mlayer.model import manifest as mf
from mlayer.onnx.support import require_onnx_runtime
from mlayer.publishing import ephemeral, labels, model_store, planner
from mlayer.publishing.compat import check_compatibility
from mlayer.publishing.ephemeral import EphemeralPlan
from mlayer.publishing.models import LayerSize, RelinkPlan
from mlayer.publishing.publish_types import (
    FunctionView,
    LiveState,
    ModelFacts,
    ReusedVersion,
)
from mlayer.publishing.resolved import ResolvedPublish


@dataclass(frozen=True)
class PublishPlan:
    """What to publish, before the zip exists: the version's label, manifest, place and store."""

    label: str  # the planned label (a claimed default label may move up: apply)
    first_free: int  # the first default label number no version carries
    manifest: dict[str, Any]  # the manifest to publish (the S3 form when the store is s3)
    target: str  # the layer version ARN the function is relinked to
    store: model_store.StoreChoice
    warnings: tuple[str, ...]
    reused: ReusedVersion | None  # the existing version with this content: nothing to publish
    claim: bool  # a default label, claimed in the bucket before publishing

    @property
    def version(self) -> int:
        return LayerVersionArn.parse(self.target).version


@dataclass(frozen=True)
class LinkPlan:
    """The relink of the function to the plan's target (None with --no-link) and its /tmp."""

    relink: RelinkPlan | None
    ephemeral: EphemeralPlan | None
    warnings: tuple[str, ...] = ()


def relink_needed(relink: RelinkPlan | None, alias: str | None, tmp: EphemeralPlan | None) -> bool:
    """Whether the relinker has anything to do: the layers, the alias, or /tmp."""
    if relink is None:
        return False
    return bool(relink.changed or alias or (tmp is not None and tmp.changes))


def first_free_number(next_version: int, taken: Iterable[str]) -> int:
    """The first version number from ``next_version`` on whose default label no version has."""
    used = set(taken)
    number = next_version
    while labels.default_label(number) in used:
        number += 1
    return number


def next_arn(
    versions: Sequence[LayerVersion], function: FunctionView | None, layer: str, version: int
) -> str:
    """The ARN the next version will have: from an existing version, else from the function's ARN."""
    if versions:
        return str(LayerVersionArn.parse(versions[0].arn).with_version(version))
    if function is not None and function.arn:
        parts = function.arn.split(":")
        return f"arn:{parts[1]}:lambda:{parts[3]}:{parts[4]}:layer:{layer}:{version}"
    return f"arn:aws:lambda:-:000000000000:layer:{layer}:{version}"


def tmp_plan(
    manifest: Mapping[str, Any] | None, function: FunctionView, name: str
) -> EphemeralPlan:
    """/tmp for the manifest's S3 artifacts on this function: grown when short, never shrunk."""
    need = ephemeral.plan_ephemeral(manifest, None, function=name)  # Lambda's limit checked
    grow = need.required_mb if need.required_mb > function.tmp_mb else None
    return EphemeralPlan(need.s3_bytes, need.required_mb, function.tmp_mb, grow)


def relink_for(
    req: ResolvedPublish, function: FunctionView, live: LiveState, target: str, size: LayerSize
) -> RelinkPlan:
    """The function's layer list with ``target`` (of ``size``) as its model layer."""
    sizes = {**live.sizes, target: size}
    return planner.plan_relink(
        req.function, function.layers, req.layer, target, sizes, function_size=function.size
    )


def _choose_store(
    req: ResolvedPublish,
    model: ModelFacts,
    manifest: dict[str, Any],
    live: LiveState,
    target: str,
) -> tuple[dict[str, Any], model_store.StoreChoice]:
    """The manifest to publish (the S3 form when the artifacts go to S3) and why that store."""
    s3_form = model_store.to_s3_form(manifest, req.bucket)
    function = live.function

    def room_left(size: int) -> int:  # the function's budget whenever it exists (--no-link too)
        if function is None:
            return model_store.standalone_fit(size)
        return relink_for(req, function, live, target, LayerSize(size)).budget_left

    requested = req.store
    if model.format == "onnx":  # one graph, no pickles: it ships in its layer
        if req.store_flag == "s3":
            raise UsageError(
                "--store s3 keeps pickles in S3; an ONNX model ships its graph in its layer.",
                "Drop --store s3 (or publish with --format sklearn).",
            )
        requested = "layer"
    choice = model_store.choose_store(
        requested,
        layer_size=model_store.layer_form_size(
            mf.to_json(manifest), model.artifact_sizes, model.code_sizes
        ),
        s3_size=model_store.layer_form_size(mf.to_json(s3_form), [], model.code_sizes),
        room_left=room_left,
        where=f"s3://{req.bucket}/{model_store.MODELS_PREFIX}",
    )
    if model.format == "onnx" and requested != req.store:
        _, _, why = choice.reason.partition(":")
        choice = model_store.StoreChoice("layer", req.store, "ONNX:" + why)
    return (s3_form if choice.store == "s3" else manifest), choice


def _reused_store(
    manifest: Mapping[str, Any], version: int, requested: str
) -> model_store.StoreChoice:
    """A reused version keeps its store (its S3 objects are uploaded again if they are gone)."""
    place = model_store.placement(manifest)
    where = "S3" if place.store == "s3" else f"its {place.store}"
    return model_store.StoreChoice(
        place.store, requested, f"The same content is version {version}, stored in {where}."
    )


def plan_publish(req: ResolvedPublish, model: ModelFacts, live: LiveState) -> PublishPlan:
    """Everything decided before the zip: refusals raise here, before any write."""
    function = live.function
    if model.format == "onnx" and function is not None and function.runtime:
        require_onnx_runtime(function.runtime)  # the live function's, when it differs
    first_free = first_free_number(live.next_version, live.labels_taken)
    label = req.label or labels.default_label(first_free)
    manifest = {**model.manifest, "model_version": label}
    lock = dict(live.lock) if live.lock is not None else None
    checked = check_compatibility(manifest, lock, live.lock_source, req.allow_version_mismatch)
    warnings = (*model.notes, *checked)
    reused = live.reused
    if reused is not None:  # same content: no zip to build, the existing version is the target
        stored = dict(reused.manifest) if reused.manifest else manifest
        choice = _reused_store(stored, reused.version, req.store)
        return PublishPlan(label, first_free, stored, reused.arn, choice, warnings, reused, False)
    target = next_arn(live.versions, function, req.layer, live.next_version)
    manifest, choice = _choose_store(req, model, manifest, live, target)
    return PublishPlan(
        label, first_free, manifest, target, choice, warnings, None, req.label is None
    )


def plan_link(
    req: ResolvedPublish, live: LiveState, plan: PublishPlan, size: LayerSize
) -> LinkPlan:
    """The relink to the plan's target of ``size`` unzipped bytes, /tmp, and their warnings."""
    function = live.function
    linked = req.link and function is not None
    relink = relink_for(req, function, live, plan.target, size) if linked and function else None
    tmp = tmp_plan(plan.manifest, function, req.function) if linked and function else None
    memory = ephemeral.memory_warning(plan.manifest, function.memory_mb if function else None)
    unknown = relink and planner.unknown_size_warning(relink.unknown_sizes, relink.budget_left)
    return LinkPlan(relink, tmp, tuple(w for w in (memory, unknown) if w))


def question(req: ResolvedPublish, plan: PublishPlan, link: LinkPlan) -> str:
    """What ``confirm`` asks, once, before the first write."""
    asked = (
        "Reuse" if plan.reused else "Publish"
    ) + f" {req.layer} {plan.manifest['model_version']}"
    relinks = link.relink is not None and link.relink.changed
    return asked + (f" and relink {req.function}?" if relinks else "?")
