"""deploy-function's decisions, pure: what to create or change so the function and its trigger
match the settings. No I/O: the live state comes in as the dicts AWS returned.

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
from dataclasses import dataclass, field
from typing import Any

from mlayer.arns import layer_name
from mlayer.config import FUNCTION_DEAD_LETTER_OVERFLOW_ENV, Settings
from mlayer.config.file_trigger import CHUNK_ENV
from mlayer.config.file_trigger import function_env as file_env
from mlayer.config.sections import SNAPSTART_MAX_TMP_MB
from mlayer.errors import ConfigError
from mlayer.model.packaging import code_sha256_to_hex

PACKAGE = "mlayer_function"
HANDLER = f"{PACKAGE}.handler.handler"
OVERFLOW_ENV = FUNCTION_DEAD_LETTER_OVERFLOW_ENV
OWNED_ENV = ("MLAYER_OUTPUT_SINK", "MLAYER_OUTPUT_DEAD_LETTER", OVERFLOW_ENV, CHUNK_ENV)
SNAPSTART_ON, SNAPSTART_OFF = "PublishedVersions", "None"


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
    desired: dict = field(repr=False, default_factory=dict)
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
    desired: dict = field(repr=False, default_factory=dict)
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


def snapstart_view(config: dict | None) -> str:
    return ((config or {}).get("SnapStart") or {}).get("ApplyOn") or SNAPSTART_OFF


def current_function_view(config: dict) -> dict:
    """The comparable part of a GetFunctionConfiguration answer."""
    return {
        "Runtime": config.get("Runtime"),
        "Handler": config.get("Handler"),
        "Architectures": list(config.get("Architectures") or ["x86_64"]),
        "MemorySize": config.get("MemorySize"),
        "Timeout": config.get("Timeout"),
        "Role": config.get("Role"),
        "Layers": [layer["Arn"] for layer in config.get("Layers") or []],
        "Environment": dict((config.get("Environment") or {}).get("Variables") or {}),
        "SnapStart": snapstart_view(config),
    }


def plan_function(
    settings: Settings,
    config: dict | None,
    *,
    code_sha: str,
    deps_latest: str | None,
    model_latest: str | None,
    model_live: str | None = None,
) -> FunctionPlan:
    """What to create or change so the function matches the settings (pure).

    ``model_live``: the model layer of the alias's version, when an alias serves."""
    fn = settings.function
    current = current_function_view(config) if config else None
    role = fn.role or (current or {}).get("Role") or ""
    if not role:
        raise ConfigError(
            f"Function {fn.name} does not exist yet and no IAM role is configured.",
            "Set [function] role (or MLAYER_FUNCTION_ROLE, or --role) to the function's role ARN.",
        )
    desired = {
        "Runtime": fn.runtime,
        "Handler": HANDLER,
        "Architectures": [fn.architecture],
        "MemorySize": fn.memory,
        "Timeout": fn.timeout,
        "Role": role,
        "Layers": list(
            desired_layers(
                (current or {}).get("Layers") or [],
                deps_layer=settings.deps.layer,
                model_layer=settings.model.layer,
                deps_latest=deps_latest,
                model_latest=model_latest,
                model_live=model_live,
            )
        ),
        "Environment": desired_environment((current or {}).get("Environment") or {}, settings),
    }
    snapstart = SNAPSTART_ON if fn.snapstart else SNAPSTART_OFF
    if fn.snapstart or (current or {}).get("SnapStart", SNAPSTART_OFF) != SNAPSTART_OFF:
        desired["SnapStart"] = snapstart  # only sent when on, or to turn it off
    names = [layer_name(arn) for arn in desired["Layers"]]
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
    if current is None:
        changes = tuple(Change(k, None, v) for k, v in desired.items())
        return FunctionPlan(fn.name, True, True, changes, desired, tuple(notes))
    changes = tuple(Change(k, current[k], v) for k, v in desired.items() if current[k] != v)
    live_sha = code_sha256_to_hex(config["CodeSha256"]) if config.get("CodeSha256") else ""
    return FunctionPlan(fn.name, False, live_sha != code_sha, changes, desired, tuple(notes))


def trigger_settings(settings: Settings, on_failure_arn: str | None) -> dict:
    t = settings.trigger
    desired = {
        "BatchSize": t.batch_size,
        "MaximumBatchingWindowInSeconds": t.batching_window,
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "BisectBatchOnFunctionError": True,
        "MaximumRetryAttempts": t.max_retries,
        "MaximumRecordAgeInSeconds": t.max_record_age,
        "DestinationConfig": {"OnFailure": {"Destination": on_failure_arn}}
        if on_failure_arn
        else {"OnFailure": {}},
    }
    return desired


def _mapping_view(mapping: dict, keys: Sequence[str]) -> dict:
    view = {k: mapping.get(k) for k in keys}
    view["FunctionResponseTypes"] = list(mapping.get("FunctionResponseTypes") or [])
    destination = ((mapping.get("DestinationConfig") or {}).get("OnFailure") or {}).get(
        "Destination"
    )
    view["DestinationConfig"] = {"OnFailure": {"Destination": destination} if destination else {}}
    return view


def plan_trigger(
    settings: Settings,
    mappings: Sequence[dict],
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
    mine = [m for m in mappings if m.get("EventSourceArn") == stream_arn]
    if not mine:
        desired = {**desired, "StartingPosition": settings.trigger.starting_position}
        changes = tuple(Change(k, None, v) for k, v in desired.items())
        return TriggerPlan(stream_arn, target, None, changes, desired)
    mapping = mine[0]
    current = _mapping_view(mapping, list(desired))
    changes = [Change(k, current[k], v) for k, v in desired.items() if current[k] != v]
    if mapping.get("FunctionArn") not in (target, *same_target):
        changes.append(Change("FunctionName", mapping.get("FunctionArn"), target))
    notes = []
    live_position = mapping.get("StartingPosition")
    if live_position and live_position != settings.trigger.starting_position:
        notes.append(
            f"starting_position {settings.trigger.starting_position} applies to a new trigger "
            f"only; the existing one started at {live_position}."
        )
    return TriggerPlan(stream_arn, target, mapping["UUID"], tuple(changes), desired, tuple(notes))


def version_state(config: dict | None) -> tuple:
    """What makes a published version serve as $LATEST would: its code and configuration."""
    if not config:
        return ()
    return (config.get("CodeSha256"), sorted(current_function_view(config).items()))


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
    latest: dict | None,
    alias: dict | None,
    alias_version: dict | None,
    provisioned: dict | None,
) -> AliasPlan | None:
    """None without [model] alias; else whether to publish and move it, and its concurrency.

    ``alias`` is GetAlias's answer, ``alias_version`` the configuration of its version,
    ``provisioned`` GetProvisionedConcurrencyConfig's (None: none)."""
    name = settings.model.alias
    if not name:
        return None
    behind = fplan.changed or alias is None or version_state(alias_version) != version_state(latest)
    before = int((provisioned or {}).get("RequestedProvisionedConcurrentExecutions") or 0)
    return AliasPlan(
        alias=name,
        version=(alias or {}).get("FunctionVersion"),
        revision_id=(alias or {}).get("RevisionId"),
        behind=behind,
        pc_before=before,
        pc_after=settings.function.provisioned_concurrency,
    )


def alias_model_layer(alias_version: dict | None, model_layer: str) -> str | None:
    """The model layer ARN of the alias's version (what the alias serves), if any."""
    for layer in (alias_version or {}).get("Layers") or []:
        if layer_name(layer["Arn"]) == model_layer:
            return layer["Arn"]
    return None


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
