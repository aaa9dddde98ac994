"""Will this model load on the function? The one compatibility check of mlayer.

publish-model, rollback and deploy-function all ask the same question of the same inputs: the
model's manifest against the lock of the dependencies layer the function runs (or will run).
Finding that lock and the policy (what is fatal, what --allow-version-mismatch lets through)
live here so that the three commands cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mlayer.arns import layer_name
from mlayer.errors import ModelError
from mlayer.model import manifest as mf
from mlayer.onnx.support import deps_problem

if TYPE_CHECKING:  # the store is passed in: importing it would load boto3 (compat is pure)
    from mlayer.publishing.store import ArtifactStore


def deps_lock_for(
    store: ArtifactStore, deps_layer: str, layers: Sequence[str]
) -> tuple[dict[str, Any] | None, str]:
    """The lock of the dependencies layer among the function's ``layers`` and where it came from.

    When the function carries no deps layer (or does not exist yet), the newest deps version's
    lock; else None. A deps layer on the function without a lock in the bucket gives None,
    never another version's lock: the check must be against what the function really runs with.
    """
    for arn in layers:
        if layer_name(arn) == deps_layer:
            lock = store.lock(store.layer_sha(arn))
            return lock, (arn if lock is not None else "")
    newest = store.gw.latest_layer_arn(deps_layer)
    if newest:
        return lock_of(store, newest, f"{newest} (newest; the function does not use it)")
    return None, ""


def lock_of(
    store: ArtifactStore, deps_arn: str, source: str | None = None
) -> tuple[dict[str, Any] | None, str]:
    """The lock of one deps-layer version (what deploy-function is about to attach)."""
    lock = store.lock(store.layer_sha(deps_arn))
    return lock, ((source or deps_arn) if lock is not None else "")


def check_compatibility(
    manifest: Mapping[str, Any],
    lock: dict[str, Any] | None,
    lock_source: str,
    allow_mismatch: bool,
    *,
    moving_deps: bool = False,
) -> list[str]:
    """Raise ModelError for what cannot work; return the warnings of what
    --allow-version-mismatch let through.

    A deps layer without the model format's runtime is refused whatever the flag says when a
    model is linked onto it (publish-model, rollback): the function could never start. Only
    ``moving_deps`` (deploy-function changing the deps layer under the live model, the first
    step of a format switch on one function) lets the flag through, with a warning.
    """
    problem = deps_problem(manifest, lock)
    if problem:
        return _format_unserved(problem, lock_source, allow_mismatch, moving_deps)
    # An ONNX model unpickles nothing and needs no pandas: onnxruntime is all it needs.
    onnx = manifest.get("format") == "onnx"
    hard, soft = ([], []) if onnx else mf.compatibility_problems(manifest, lock)
    if hard:
        raise ModelError(
            hard[0] + (f" ({len(hard) - 1} more)" if len(hard) > 1 else ""),
            "Put custom code in a module, save the model again importing it from there, and pass "
            "--code module.py; or add the missing package to the dependencies layer.",
        )
    if lock is None:
        return _unchecked(allow_mismatch)
    return _version_mismatches(soft, lock_source, allow_mismatch)


def _format_unserved(
    problem: str, lock_source: str, allow_mismatch: bool, moving_deps: bool
) -> list[str]:
    """The deps layer lacks the model format's runtime: refused, or one warning when
    deploy-function moves the deps layer first (``moving_deps``) with the flag."""
    said = f"{problem[0].upper()}{problem[1:]} [layer: {lock_source}]"
    if allow_mismatch and moving_deps:
        return [
            f"{said}: the live model cannot load until a model of this layer's format is "
            "linked (--allow-version-mismatch)."
        ]
    flag = " (--allow-version-mismatch does not cover it)" if allow_mismatch else ""
    raise ModelError(
        f"{said}: the function could not start{flag}.",
        "Attach a deps layer built from layers/onnx/requirements.txt for an ONNX model, "
        "layers/sklearn/requirements.txt (or sklearn-pandas) for pickles, or one whose "
        "requirements -r-include both recipes; to switch formats on one function, move the "
        "deps layer first (`mlayer deploy-function --allow-version-mismatch`); or publish "
        "the model in the other --format.",
    )


def _unchecked(allow_mismatch: bool) -> list[str]:
    """No lock to check against: refused, unless the flag publishes unchecked."""
    if not allow_mismatch:
        raise ModelError(
            "No dependencies-layer lock found, so mlayer cannot check that the model will "
            "load on Lambda.",
            "Run `mlayer build-deps --publish` first, or pass --allow-version-mismatch to "
            "publish unchecked.",
        )
    return [
        "No dependencies-layer lock was found: versions were NOT checked "
        "(--allow-version-mismatch)."
    ]


def _version_mismatches(soft: list[str], lock_source: str, allow_mismatch: bool) -> list[str]:
    """Versions that differ from the lock's: refused, or warnings under the flag."""
    if soft and not allow_mismatch:
        raise ModelError(
            soft[0]
            + (f" ({len(soft) - 1} more)" if len(soft) > 1 else "")
            + f" [layer: {lock_source}]",
            "Retrain or re-save the model with the layer's versions, or rebuild the layer "
            "(`mlayer build-deps --publish`); --allow-version-mismatch overrides this (unsafe).",
        )
    return [f"{p} (--allow-version-mismatch)" for p in soft]


def check_function_layers(
    store: ArtifactStore,
    layers: Sequence[str],
    *,
    deps_layer: str,
    model_layer: str,
    allow_mismatch: bool,
) -> list[str]:
    """deploy-function's check: will the model layer in ``layers`` load with the deps layer
    beside it? Nothing to check without both, or when the model layer is not mlayer's (no
    manifest in the bucket)."""
    by_name = {layer_name(arn): arn for arn in layers}
    model, deps = by_name.get(model_layer), by_name.get(deps_layer)
    if model is None or deps is None:
        return []
    manifest = store.manifest(store.layer_sha(model))
    if manifest is None:
        return []
    lock, source = lock_of(store, deps)
    return check_compatibility(manifest, lock, source, allow_mismatch, moving_deps=True)
