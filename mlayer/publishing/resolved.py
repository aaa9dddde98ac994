"""publish-model's and rollback's requests resolved against the settings, once.

A flag wins over mlayer.toml (``request.X or settings.model.X``); that rule is applied here and
nowhere else, so the read, the plan and the apply see one frozen value per question. Pure: the
settings and the request in, a frozen resolution out (a contradiction of flags is a UsageError).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlayer.config import Settings
from mlayer.errors import UsageError
from mlayer.request_types import PublishRequest, RollbackRequest


@dataclass(frozen=True)
class ResolvedPublish:
    """One publish-model, every setting decided: what the read, plan and apply stages use."""

    function: str
    layer: str
    bucket: str
    deps_layer: str
    runtime: str  # [function] runtime (the live function's wins where it exists)
    link: bool
    alias: str | None  # None with --no-link
    model: str | Path
    preprocessors: tuple[Any, ...]
    code_files: tuple[Any, ...]
    metrics: str | Path | None
    input_kind: str | None
    format: str
    store: str  # asked for (--store, else [model] store): auto | layer | s3
    store_flag: str | None  # --store exactly as given (ONNX refuses an explicit s3)
    label: str | None  # --label; None: the default v<N>, claimed
    description: str
    dry_run: bool
    allow_version_mismatch: bool
    request: PublishRequest  # the flags as given, for the model's reading (--sample, --trust...)


def pipeline_files(settings: Settings, request: PublishRequest) -> tuple[str | Path, list[Any]]:
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


def resolve_publish(settings: Settings, request: PublishRequest) -> ResolvedPublish:
    """The request against the settings; --alias with --no-link is a contradiction."""
    link = request.link
    if request.alias and not link:
        raise UsageError(
            f"--alias {request.alias} moves the function's alias, but --no-link leaves the "
            "function alone.",
            "Drop --no-link to relink and move the alias, or drop --alias.",
        )
    model, preprocessors = pipeline_files(settings, request)
    return ResolvedPublish(
        function=settings.function.name,
        layer=settings.model.layer,
        bucket=settings.artifacts.bucket,
        deps_layer=settings.deps.layer,
        runtime=settings.function.runtime,
        link=link,
        alias=(request.alias or settings.model.alias or None) if link else None,
        model=model,
        preprocessors=tuple(preprocessors),
        code_files=tuple(request.code_files),
        metrics=request.metrics,
        input_kind=request.input_kind or settings.model.input,
        format=request.format or settings.model.format,
        store=request.store or settings.model.store,
        store_flag=request.store,
        label=request.label,
        description=request.description,
        dry_run=request.dry_run,
        allow_version_mismatch=request.allow_version_mismatch,
        request=request,
    )


@dataclass(frozen=True)
class ResolvedRollback:
    """One rollback, every setting decided."""

    function: str
    layer: str
    bucket: str
    deps_layer: str
    runtime: str
    alias: str | None
    version: int | None  # --version N; None with --previous
    dry_run: bool
    allow_version_mismatch: bool


def resolve_rollback(settings: Settings, request: RollbackRequest) -> ResolvedRollback:
    """Exactly one of --version N and --previous."""
    if (request.version is None) == (not request.previous):
        raise UsageError(
            "Pass exactly one of --version N and --previous.", "See `mlayer history` for versions."
        )
    return ResolvedRollback(
        function=settings.function.name,
        layer=settings.model.layer,
        bucket=settings.artifacts.bucket,
        deps_layer=settings.deps.layer,
        runtime=settings.function.runtime,
        alias=request.alias or settings.model.alias or None,
        version=None if request.version is None else int(request.version),
        dry_run=request.dry_run,
        allow_version_mismatch=request.allow_version_mismatch,
    )
