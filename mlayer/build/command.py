"""build-deps: build the dependencies layer for the configured runtime, then publish it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlayer.config import Settings
from mlayer.request_types import BuildDepsRequest
from mlayer.results.build_deps import BuildDepsResult


def build_deps(
    settings: Settings,
    request: BuildDepsRequest,
    *,
    progress: Callable[[str], None] | None,
    confirm: Callable[[str], None],
    runner: Any,
    gateway: Callable[[], Any],
) -> BuildDepsResult:
    """Build the layer of [deps], runtime and architecture; publish it with ``request.publish``.

    ``progress`` receives one line per step; ``confirm`` is asked before a new version is
    published and raises to refuse; ``gateway()`` is called only when publishing.
    """
    from mlayer.build import BuildRequest, build_layer
    from mlayer.build.budget import check_budget
    from mlayer.build.publish import publish_layer
    from mlayer.build.requirements import requirements_path
    from mlayer.runtimes import MAX_UNZIPPED_BYTES

    def on_progress(event: Any) -> None:
        if progress is not None:
            pct = f" {100 * event.done // event.total}%" if event.total else ""
            progress(f"{event.step}: {event.message}{pct}")

    configured = settings.deps.requirements
    build = build_layer(
        BuildRequest(
            requirements=requirements_path(configured, settings.path(configured)),
            runtime=settings.function.runtime,
            arch=settings.function.architecture,
            builder=settings.deps.builder,
            output=Path(request.output),
            slim=request.slim,
            compile=request.compile,
            force=request.force,
            cache_dir=Path(request.cache_dir) if request.cache_dir else None,
            budget_bytes=request.budget_bytes or MAX_UNZIPPED_BYTES,
            allow_missing_libs=tuple(request.allow_missing_libs),
        ),
        runner,
        on_progress,
    )
    if not request.publish:
        return BuildDepsResult(build)
    check_budget(build.budget)  # before any AWS call: naming the bucket already asks AWS
    gw = gateway()
    bucket = gw.artifact_bucket(settings.artifacts.bucket)
    published = publish_layer(build, gw, bucket, settings.deps.layer, on_progress, confirm)
    return BuildDepsResult(build, published)
