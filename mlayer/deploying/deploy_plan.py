"""deploy-function's decisions, pure: what to create or change so the function and its trigger
match the settings. No I/O: the live state comes in as the gateway's typed views, the plan
goes out as its typed specs (mlayer/gateway/views.py).

Layers: the dependencies layer moves to its latest published version (deploying is when
dependencies change); the model layer keeps the version the function runs (publish-model and
rollback own it) and is only filled in, with the latest version, when absent. Layers that are
not mlayer's stay in place and in order.

Trigger: Lambda's stream defaults retry a failing batch forever and keep records a week, so one
poison record stalls a shard; mlayer always sets the finite values of ``[trigger]`` (validated
in config.py), reports partial batch failures and bisects on errors. Every trigger gets an
on-failure destination, so a batch Lambda gives up on is always recorded: ``[trigger]
on_failure``, else the dead-letter queue when ``[output] dead_letter`` is SQS, else the artifact
bucket (Lambda accepts an S3 bucket for stream sources and writes the batch there too).

With an alias, the alias serves: the model layer is the one of the alias's version (a rollback
that only moved the alias is kept), and $LATEST is published and the alias moved whenever
$LATEST differs from the alias's version (alias_behind).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from mlayer.arns import layer_name
from mlayer.config import FUNCTION_DEAD_LETTER_OVERFLOW_ENV, Settings
from mlayer.config.file_trigger import CHUNK_ENV
from mlayer.config.file_trigger import function_env as file_env
from mlayer.config.sections import SNAPSTART_MAX_TMP_MB
from mlayer.errors import ConfigError
from mlayer.gateway.views import (
    RETARGET_KEY,
    SNAPSTART_OFF,
    Alias,
    EventSourceMapping,
    FunctionConfig,
    FunctionSpec,
    TriggerSpec,
)

PACKAGE = "mlayer_function"
HANDLER = f"{PACKAGE}.handler.handler"
OVERFLOW_ENV = FUNCTION_DEAD_LETTER_OVERFLOW_ENV
OWNED_ENV = ("MLAYER_OUTPUT_SINK", "MLAYER_OUTPUT_DEAD_LETTER", OVERFLOW_ENV, CHUNK_ENV)
SNAPSTART_ON = "PublishedVersions"


@dataclass(frozen=True)
class Change:
    key: str
    before: Any
    after: Any


@dataclass(frozen=True)
class FunctionPlan:
    name: str
    create: bool
    code_changed: bool
    changes: tuple[Change, ...]  # configuration keys that differ (all of them on create)
    desired: FunctionSpec
    notes: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return self.create or self.code_changed or bool(self.changes)


@dataclass(frozen=True)
class TriggerPlan:
    stream_arn: str
    target: str
    uuid: str | None  # the existing mapping, or None to create one
    changes: tuple[Change, ...]
    desired: TriggerSpec
    notes: tuple[str, ...] = ()

    @property
    def create(self) -> bool:
        return self.uuid is None

    @property
    def changed(self) -> bool:
        return self.create or bool(self.changes)


def desired_layers(
    current: Sequence[str],
    *,
    deps_layer: str,
    model_layer: str,
    deps_latest: str | None,
    model_latest: str | None,
    model_live: str | None = None,
) -> tuple[str, ...]:
    """Current layers in order; the deps layer at its latest; the model layer kept (or set to
    ``model_live``, the alias's, when the alias serves) or added."""
    out: list[str] = []
    has_deps = has_model = False
    for arn in current:
        name = layer_name(arn)
        if name == deps_layer:
            has_deps = True
            out.append(deps_latest or arn)
        elif name == model_layer:
            has_model = True
            out.append(model_live or arn)
        else:
            out.append(arn)
    if not has_deps and deps_latest:
        out.append(deps_latest)
    if not has_model and (model_live or model_latest):
        out.append(model_live or model_latest)
    return tuple(out)


def desired_environment(current: dict[str, str], settings: Settings) -> dict[str, str]:
    """The function's variables with mlayer's own set from [output]; others left alone."""
    env = {k: v for k, v in current.items() if k not in OWNED_ENV}
    env["MLAYER_OUTPUT_SINK"] = settings.output.sink
    if settings.output.dead_letter:
        env["MLAYER_OUTPUT_DEAD_LETTER"] = settings.output.dead_letter
    if settings.output.dead_letter_overflow or settings.artifacts.bucket:
        env[OVERFLOW_ENV] = settings.dead_letter_overflow_url()
    env.update(file_env(settings))  # [trigger] s3: rows per predict (config/file_trigger.py)
    return env


def on_failure_url(settings: Settings) -> str:
    """Where the trigger sends what Lambda gives up on: [trigger] on_failure, else the SQS
    dead-letter queue, else the artifact bucket (``s3://bucket``)."""
    if settings.trigger.on_failure:
        return settings.trigger.on_failure
    if settings.output.dead_letter.startswith("sqs://"):
        return settings.output.dead_letter
    return f"s3://{settings.artifacts.bucket}" if settings.artifacts.bucket else ""


def plan_function(
    settings: Settings,
    config: FunctionConfig | None,
    *,
    code_sha: str,
    deps_latest: str | None,
    model_latest: str | None,
    model_live: str | None = None,
) -> FunctionPlan:
    """What to create or change so the function matches the settings (pure).

    ``model_live``: the model layer of the alias's version, when an alias serves."""
    fn = settings.function
    current = FunctionSpec.of(config) if config else None
    role = fn.role or (current.role if current else None) or ""
    if not role:
        raise ConfigError(
            f"Function {fn.name} does not exist yet and no IAM role is configured.",
            "Set [function] role (or MLAYER_FUNCTION_ROLE, or --role) to the function's role ARN.",
        )
    on = fn.snapstart or (current is not None and current.snapstart != SNAPSTART_OFF)
    desired = FunctionSpec(
        runtime=fn.runtime,
        handler=HANDLER,
        architectures=(fn.architecture,),
        memory=fn.memory,
        timeout=fn.timeout,
        role=role,
        layers=desired_layers(
            current.layers if current else (),
            deps_layer=settings.deps.layer,
            model_layer=settings.model.layer,
            deps_latest=deps_latest,
            model_latest=model_latest,
            model_live=model_live,
        ),
        environment=desired_environment(dict(current.environment) if current else {}, settings),
        # only sent when on, or to turn it off
        snapstart=(SNAPSTART_ON if fn.snapstart else SNAPSTART_OFF) if on else None,
    )
    names = [layer_name(arn) for arn in desired.layers]
    notes = []
    if settings.deps.layer not in names:
        notes.append(
            f"no dependencies layer {settings.deps.layer} is published: the function cannot "
            "import scikit-learn until `mlayer build-deps --publish` and another deploy-function."
        )
    if settings.model.layer not in names:
        notes.append(
            f"no model layer {settings.model.layer} yet: the function fails its cold start "
            "(no /opt/mlayer/manifest.json) until `mlayer publish-model` attaches one."
        )
    if config is None or current is None:
        changes = tuple(Change(k, None, v) for k, v in desired.as_dict().items())
        return FunctionPlan(fn.name, True, True, changes, desired, tuple(notes))
    changes = tuple(Change(*d) for d in desired.differences(current))
    code_changed = config.code_sha256 != code_sha
    return FunctionPlan(fn.name, False, code_changed, changes, desired, tuple(notes))


def trigger_settings(settings: Settings, on_failure_arn: str | None) -> TriggerSpec:
    t = settings.trigger
    return TriggerSpec(
        batch_size=t.batch_size,
        batching_window=t.batching_window,
        response_types=("ReportBatchItemFailures",),
        bisect=True,
        max_retries=t.max_retries,
        max_record_age=t.max_record_age,
        on_failure=on_failure_arn,
    )


def plan_trigger(
    settings: Settings,
    mappings: Sequence[EventSourceMapping],
    *,
    stream_arn: str,
    target: str,
    on_failure_arn: str | None,
    same_target: Sequence[str] = (),
) -> TriggerPlan:
    """Create the stream's mapping, or update the one there (also re-pointing it at ``target``).

    ``same_target``: other FunctionArn values that mean ``target`` (see deploy_function).
    """
    desired = trigger_settings(settings, on_failure_arn)
    mine = [m for m in mappings if m.source_arn == stream_arn]
    if not mine:
        desired = replace(desired, starting_position=settings.trigger.starting_position)
        changes = tuple(Change(k, None, v) for k, v in desired.as_dict().items())
        return TriggerPlan(stream_arn, target, None, changes, desired)
    mapping = mine[0]
    current, wanted = mapping.settings.as_dict(), desired.as_dict()
    changes = [Change(k, current[k], v) for k, v in wanted.items() if current[k] != v]
    if mapping.function_arn not in (target, *same_target):
        changes.append(Change(RETARGET_KEY, mapping.function_arn, target))
    notes = []
    live_position = mapping.starting_position
    if live_position and live_position != settings.trigger.starting_position:
        notes.append(
            f"starting_position {settings.trigger.starting_position} applies to a new trigger "
            f"only; the existing one started at {live_position}."
        )
    return TriggerPlan(stream_arn, target, mapping.uuid, tuple(changes), desired, tuple(notes))


def version_state(config: FunctionConfig | None) -> tuple[Any, ...]:
    """What makes a published version serve as $LATEST would: its code and configuration."""
    if not config:
        return ()
    return (config.code_sha256, FunctionSpec.of(config))


@dataclass(frozen=True)
class AliasPlan:
    """The alias that serves (when [model] alias is set) and its provisioned concurrency."""

    alias: str
    version: str | None  # the version it points to now; None: no alias yet
    revision_id: str | None  # the alias's, read with it (UpdateAlias carries it)
    behind: bool  # $LATEST (as planned) differs from the alias's version
    pc_before: int
    pc_after: int

    @property
    def publish(self) -> bool:
        """Publish $LATEST as a version and point the alias at it."""
        return self.version is None or self.behind

    @property
    def pc_changed(self) -> bool:
        return self.pc_before != self.pc_after

    @property
    def changed(self) -> bool:
        return self.publish or self.pc_changed

    def changes(self) -> tuple[Change, ...]:
        out = []
        if self.publish:
            out.append(Change("FunctionVersion", self.version, "(published from $LATEST)"))
        if self.pc_changed:
            out.append(Change("ProvisionedConcurrency", self.pc_before, self.pc_after))
        return tuple(out)


def plan_alias(
    settings: Settings,
    fplan: FunctionPlan,
    latest: FunctionConfig | None,
    alias: Alias | None,
    alias_version: FunctionConfig | None,
    provisioned: int,
) -> AliasPlan | None:
    """None without [model] alias; else whether to publish and move it, and its concurrency.

    ``alias_version`` is the configuration of the alias's version, ``provisioned`` the alias's
    requested provisioned concurrency (0: none)."""
    name = settings.model.alias
    if not name:
        return None
    behind = fplan.changed or alias is None or version_state(alias_version) != version_state(latest)
    return AliasPlan(
        alias=name,
        version=alias.function_version if alias else None,
        revision_id=alias.revision_id if alias else None,
        behind=behind,
        pc_before=provisioned,
        pc_after=settings.function.provisioned_concurrency,
    )


def alias_model_layer(alias_version: FunctionConfig | None, model_layer: str) -> str | None:
    """The model layer ARN of the alias's version (what the alias serves), if any."""
    arns = alias_version.layer_arns if alias_version else ()
    return next((arn for arn in arns if layer_name(arn) == model_layer), None)


def check_snapstart_tmp(settings: Settings, size_mb: int, function: str) -> None:
    """Refuse a /tmp (EphemeralStorage) over SnapStart's 512 MB when SnapStart is on: for
    deploy-function, and for a relink that grows /tmp for an S3-stored model."""
    if not settings.function.snapstart or size_mb <= SNAPSTART_MAX_TMP_MB:
        return
    raise ConfigError(
        f"function.snapstart is true but {function} needs {size_mb} MB of /tmp "
        f"(EphemeralStorage) for its S3-stored model; Lambda's SnapStart allows at most "
        f"{SNAPSTART_MAX_TMP_MB} MB.",
        "Set [function] snapstart = false (provisioned concurrency also removes cold "
        "starts), or publish a model that fits in the layer (--store layer).",
    )
