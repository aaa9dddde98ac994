"""Orchestration: one function per command. Returns result objects; never prints.

Each function takes Settings (and the command's own arguments), wires the side effects
(Gateway, builders, clock) and delegates decisions to pure modules (planner, manifest, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlayer.config import Settings, render_toml
from mlayer.errors import NotBuiltError, UsageError


def not_built(command: str, issue: int) -> NotBuiltError:
    return NotBuiltError(
        f"`mlayer {command}` is not built in this release yet.",
        f"Follow issue {issue} of the mlayer tracker; the rest of the CLI works.",
    )


@dataclass(frozen=True)
class InitResult:
    path: Path
    overwritten: bool
    settings: dict

    def render(self) -> str:
        verb = "Overwrote" if self.overwritten else "Wrote"
        return (
            f"{verb} {self.path}.\n"
            "Next: `mlayer build-deps --publish`, then `mlayer deploy-function`, "
            "then `mlayer publish-model MODEL -p PREPROCESSOR ...`."
        )


def init_config(path: str | Path, *, force: bool = False, **sections: dict[str, Any]) -> InitResult:
    """Write a commented mlayer.toml from flags over defaults; refuse to overwrite unless forced."""
    target = Path(path)
    existed = target.exists()
    if existed and not force:
        raise UsageError(
            f"{target} already exists.", "Pass --force to overwrite it, or edit it by hand."
        )
    settings = Settings(source=str(target), root=target.resolve().parent).with_overrides(**sections)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_toml(settings), encoding="utf-8")
    return InitResult(path=target, overwritten=existed, settings=settings.to_dict())


# -- build-deps -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class BuildDepsResult:
    """The layer built (or found in the cache) and, with --publish, where it was published."""

    build: Any  # mlayer.build.LayerBuild
    publish: Any = None  # mlayer.build.publish.Published, or None without --publish

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return {
            "build": self.build.to_dict(),
            "publish": asdict(self.publish) if self.publish else None,
        }


def build_deps(
    settings: Settings,
    *,
    output: str | Path = "build",
    publish: bool = False,
    slim: bool = True,
    compile: bool = True,
    force: bool = False,
    progress: Any = None,
    confirm: Any = None,
    runner: Any = None,
    gateway: Any = None,
    cache_dir: str | Path | None = None,
    budget_bytes: int | None = None,
) -> BuildDepsResult:
    """Build the dependencies layer of ``settings`` ([deps], runtime, architecture); publish it.

    ``progress`` receives one line per step (``Callable[[str], None]``); ``confirm`` is asked
    before a new version is published and raises to refuse.
    """
    from mlayer.build import BuildRequest, build_layer
    from mlayer.build.publish import publish_layer
    from mlayer.build.requirements import requirements_path
    from mlayer.build.runner import run_subprocess
    from mlayer.runtimes import MAX_UNZIPPED_BYTES

    def on_progress(event: Any) -> None:
        if progress is not None:
            pct = f" {100 * event.done // event.total}%" if event.total else ""
            progress(f"{event.step}: {event.message}{pct}")

    configured = settings.deps.requirements
    request = BuildRequest(
        requirements=requirements_path(configured, settings.path(configured)),
        runtime=settings.function.runtime,
        arch=settings.function.architecture,
        builder=settings.deps.builder,
        output=Path(output),
        slim=slim,
        compile=compile,
        force=force,
        cache_dir=Path(cache_dir) if cache_dir else None,
        budget_bytes=budget_bytes or MAX_UNZIPPED_BYTES,
    )
    build = build_layer(request, runner or run_subprocess, on_progress)
    if not publish:
        return BuildDepsResult(build)
    if gateway is None:
        from mlayer.gateway import Gateway

        gateway = Gateway.from_settings(settings)
    published = publish_layer(
        build,
        gateway,
        settings.artifacts.bucket,
        settings.deps.layer,
        on_progress,
        confirm or (lambda _question: None),
    )
    return BuildDepsResult(build, published)


# -- publish-model / rollback / history / status (issue 4) ---------------------------------------
def _model_gateway(settings: Settings, gateway: Any = None) -> Any:
    from mlayer.gateway import Gateway

    return gateway or Gateway.from_settings(settings)


def publish_model(
    settings: Settings,
    model: str | Path | None = None,
    preprocessors: tuple[str, ...] | list[str] = (),
    *,
    code_files: tuple[str, ...] | list[str] = (),
    label: str | None = None,
    input_kind: str | None = None,
    description: str = "",
    metrics: str | Path | None = None,
    alias: str | None = None,
    link: bool = True,
    allow_version_mismatch: bool = False,
    dry_run: bool = False,
    confirm: Any = None,
    gateway: Any = None,
) -> Any:
    """Check, package and publish a model-layer version, then relink the function (PublishResult).

    MODEL and -p default to [model] artifacts (the model last). ``confirm(question)`` is called
    once, after planning and before the first write; it raises to cancel.
    """
    from mlayer import modelops

    if alias and not link:
        raise UsageError(
            f"--alias {alias} moves the function's alias, but --no-link leaves the function alone.",
            "Drop --no-link to relink and move the alias, or drop --alias.",
        )
    if model is None:
        if preprocessors or not settings.model.artifacts:
            raise UsageError(
                "Name the model file.",
                "mlayer publish-model MODEL [-p PREPROCESSOR ...], or set [model] artifacts.",
            )
        *pre, last = [str(settings.path(a)) for a in settings.model.artifacts]
        model, preprocessors = last, pre
    return modelops.publish_model(
        _model_gateway(settings, gateway),
        bucket=settings.artifacts.bucket,
        function=settings.function.name,
        layer=settings.model.layer,
        deps_layer=settings.deps.layer,
        model=model,
        preprocessors=list(preprocessors),
        code_files=list(code_files),
        label=label,
        input_kind=input_kind or settings.model.input,
        description=description,
        metrics=modelops.read_metrics(metrics),
        alias=(alias or settings.model.alias or None) if link else None,
        link=link,
        allow_version_mismatch=allow_version_mismatch,
        dry_run=dry_run,
        confirm=confirm or modelops._no_confirm,
    )


def rollback(
    settings: Settings,
    *,
    version: int | None = None,
    previous: bool = False,
    alias: str | None = None,
    allow_version_mismatch: bool = False,
    dry_run: bool = False,
    confirm: Any = None,
    gateway: Any = None,
) -> Any:
    """Relink an existing model-layer version after checking it against the deps lock (RollbackResult).

    ``alias`` (default [model] alias) is moved too; ``allow_version_mismatch`` lets a version
    pickled with another scikit-learn through, with a warning.
    """
    from mlayer import modelops

    return modelops.rollback(
        _model_gateway(settings, gateway),
        bucket=settings.artifacts.bucket,
        function=settings.function.name,
        layer=settings.model.layer,
        deps_layer=settings.deps.layer,
        version=version,
        previous=previous,
        alias=alias or settings.model.alias or None,
        allow_version_mismatch=allow_version_mismatch,
        dry_run=dry_run,
        confirm=confirm or modelops._no_confirm,
    )


def history(settings: Settings, *, alias: str | None = None, gateway: Any = None) -> Any:
    """Every model-layer version, newest first, with which one is live (HistoryResult)."""
    from mlayer import modelops

    return modelops.history(
        _model_gateway(settings, gateway),
        bucket=settings.artifacts.bucket,
        function=settings.function.name,
        layer=settings.model.layer,
        alias=alias or settings.model.alias or None,
    )


def status(settings: Settings, *, gateway: Any = None) -> Any:
    """The function's layers, sizes, budget left and update state (StatusResult)."""
    from mlayer import modelops

    return modelops.status(
        _model_gateway(settings, gateway),
        bucket=settings.artifacts.bucket,
        function=settings.function.name,
        deps_layer=settings.deps.layer,
        model_layer=settings.model.layer,
    )


# -- deploy-function (issue 5) ---------------------------------------------------------------------
def deploy_function(
    settings: Settings,
    *,
    dry_run: bool = False,
    confirm: Any = None,
    gateway: Any = None,
) -> Any:
    """Create or update the function, its layers and its Kinesis trigger (DeployResult).

    ``confirm(question)`` is called once, after planning and only when something will change.
    """
    import tempfile

    from mlayer import deploy

    with tempfile.TemporaryDirectory(prefix="mlayer-deploy-") as tmp:
        return deploy.deploy_function(
            _model_gateway(settings, gateway),
            settings,
            workdir=Path(tmp),
            dry_run=dry_run,
            confirm=confirm or (lambda _question: None),
        )


# -- invoke / poll (the local Lambda emulation, issue 6) -----------------------------------------
def _is_embedded(endpoint_url: str | None) -> bool:
    return bool(endpoint_url) and any(
        h in endpoint_url for h in ("127.0.0.1", "localhost", "[::1]")
    )


def invoke(
    settings: Settings,
    *,
    event_file: str | Path | None = None,
    function: str | None = None,
    repeat: int = 1,
    local: bool = True,
    on_log: Any = None,
    gateway: Any = None,
) -> Any:
    """One invocation (or ``repeat`` on one warm container) of the function, locally or on Lambda."""
    from mlayer.gateway import Gateway
    from mlayer.local import commands

    gateway = gateway or Gateway.from_settings(settings)
    name = function or settings.function.name
    event = commands.read_event(event_file)
    if local:
        return commands.invoke(
            gateway, settings.artifacts.bucket, name, event, repeat=repeat, on_log=on_log
        )
    if _is_embedded(settings.aws.endpoint_url):
        raise UsageError(
            "The embedded AWS (moto) stores functions but cannot run them.",
            "Add --local to run the function in mlayer's local Lambda emulation.",
        )
    if repeat != 1:
        raise UsageError("--repeat needs --local.", "Drop --repeat, or add --local.")
    return commands.invoke_remote(gateway, name, event)


def poll(
    settings: Settings,
    *,
    stream: str | None = None,
    function: str | None = None,
    batch_size: int | None = None,
    max_batches: int | None = None,
    until_empty: bool = False,
    local: bool = True,
    on_batch: Any = None,
    gateway: Any = None,
) -> Any:
    """Play the Kinesis event-source mapping locally: the stream's records -> the emulated function."""
    from mlayer.gateway import Gateway
    from mlayer.local import commands

    if not local:
        raise UsageError(
            "`mlayer poll` runs the function locally only; on AWS, Lambda's own mapping polls the stream.",
            "Add --local.",
        )
    gateway = gateway or Gateway.from_settings(settings)
    return commands.poll(
        gateway,
        settings.artifacts.bucket,
        function or settings.function.name,
        stream or settings.trigger.stream,
        settings.trigger,
        batch_size=batch_size,
        max_batches=max_batches,
        until_empty=until_empty,
        on_batch=on_batch,
    )
