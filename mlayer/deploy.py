"""`mlayer deploy-function`: the function (code from function/), its layers and its Kinesis trigger.

Three stages, as for every mlayer change: read the live state (read-only calls), plan (pure:
``plan_function`` and ``plan_trigger`` compare what is there with what the settings ask for),
then, after ``confirm``, apply only the differences. A second run finds no difference and says
so without writing anything.

Layers: the dependencies layer moves to its latest published version (deploying is when
dependencies change); the model layer keeps the version the function runs (publish-model and
rollback own it) and is only filled in, with the latest version, when absent. Layers that are
not mlayer's stay in place and in order.

Trigger: Lambda's stream defaults retry a failing batch forever and keep records a week, so one
poison record stalls a shard; mlayer always sets the finite values of ``[trigger]`` (validated
in config.py), reports partial batch failures and bisects on errors. The on-failure destination
receives only shard and sequence ranges: the raw data of bad records is in the function's own
dead-letter sink.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlayer.arns import layer_name
from mlayer.config import Settings
from mlayer.errors import ConfigError, UsageError
from mlayer.gateway import Gateway, code_sha256_to_hex
from mlayer.packaging import sha256_bytes, write_zip
from mlayer.relink import Relinker
from mlayer.shipped import shipped_path

PACKAGE = "mlayer_function"
HANDLER = f"{PACKAGE}.handler.handler"
OWNED_ENV = ("MLAYER_OUTPUT_SINK", "MLAYER_OUTPUT_DEAD_LETTER")


# -- the code zip ----------------------------------------------------------------------------------
def function_code_dir() -> Path:
    """The folder holding the ``mlayer_function`` package: the one place that says where it is.

    From a source tree (``pip install -e .``) it is ``function/`` beside ``mlayer/``; an install
    that ships the package elsewhere changes only this function.
    """
    return shipped_path("function")


def function_sources(root: Path | None = None) -> list[tuple[str, Path]]:
    """The zip entries: ``mlayer_function/*.py`` (no caches, no tests, no dependencies).

    A package, so nothing of ours sits at the top of Lambda's sys.path (/var/task comes before
    the layers' /opt/python): a user's ``--code batch.py`` is never shadowed by our modules.
    """
    root = root or function_code_dir()
    package = root / PACKAGE
    if not package.is_dir():
        raise UsageError(
            f"The function's code is not at {package}.",
            "Run mlayer from its source tree (pip install -e .), where function/ sits beside mlayer/.",
        )
    files = sorted((f"{PACKAGE}/{p.name}", p) for p in package.glob("*.py") if p.is_file())
    for required in ("__init__.py", "handler.py"):
        if not any(name == f"{PACKAGE}/{required}" for name, _ in files):
            raise UsageError(
                f"{package} has no {required}.", f"Restore function/{PACKAGE}/{required}."
            )
    return files


def build_code_zip(dest: Path, root: Path | None = None) -> tuple[bytes, str]:
    """The deterministic code zip (fixed times and modes) and its hex sha256."""
    info = write_zip(dest, function_sources(root))
    data = info.path.read_bytes()
    return data, sha256_bytes(data)


# -- pure planning ---------------------------------------------------------------------------------
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
) -> tuple[str, ...]:
    """Current layers in order; the deps layer at its latest; the model layer kept or added."""
    out: list[str] = []
    has_deps = has_model = False
    for arn in current:
        name = layer_name(arn)
        if name == deps_layer:
            has_deps = True
            out.append(deps_latest or arn)
        elif name == model_layer:
            has_model = True
            out.append(arn)
        else:
            out.append(arn)
    if not has_deps and deps_latest:
        out.append(deps_latest)
    if not has_model and model_latest:
        out.append(model_latest)
    return tuple(out)


def desired_environment(current: dict[str, str], settings: Settings) -> dict[str, str]:
    """The function's variables with mlayer's own set from [output]; others left alone."""
    env = {k: v for k, v in current.items() if k not in OWNED_ENV}
    env["MLAYER_OUTPUT_SINK"] = settings.output.sink
    if settings.output.dead_letter:
        env["MLAYER_OUTPUT_DEAD_LETTER"] = settings.output.dead_letter
    return env


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
    }


def plan_function(
    settings: Settings,
    config: dict | None,
    *,
    code_sha: str,
    deps_latest: str | None,
    model_latest: str | None,
) -> FunctionPlan:
    """What to create or change so the function matches the settings (pure)."""
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
            )
        ),
        "Environment": desired_environment((current or {}).get("Environment") or {}, settings),
    }
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


# -- the result ------------------------------------------------------------------------------------
def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 90 else text[:87] + "..."


def _change_lines(changes: Any, create: bool) -> list[str]:
    """``  key: before -> after`` a change (only ``after`` for what is being created)."""
    return [
        f"  {c.key}: {'' if create else _short(c.before) + ' -> '}{_short(c.after)}"
        for c in changes
    ]


def _action(create: bool, changed: bool) -> str:
    return "created" if create else "updated" if changed else "unchanged"


def _changes_json(changes: Sequence[Change]) -> list[dict]:
    return [{"key": c.key, "before": c.before, "after": c.after} for c in changes]


@dataclass(frozen=True)
class DeployResult:
    function: FunctionPlan
    trigger: TriggerPlan | None
    applied: bool
    dry_run: bool
    function_arn: str = ""  # the live function's ARN ("" while it does not exist)
    alias_arn: str = ""
    mapping_uuid: str = ""
    code_sha256: str = ""
    code_size: int = 0

    @property
    def changed(self) -> bool:
        return self.function.changed or bool(self.trigger and self.trigger.changed)

    def to_dict(self) -> dict:
        """The --json document; its keys are stable (a dry run says what it would do)."""
        fn, trig = self.function, self.trigger
        trigger = None
        if trig is not None:
            trigger = {
                "action": _action(trig.create, trig.changed),
                "uuid": self.mapping_uuid or trig.uuid or "",
                "stream_arn": trig.stream_arn,
                "target": trig.target,
                "settings": trig.desired,
                "changes": _changes_json(trig.changes),
                "notes": list(trig.notes),
            }
        return {
            "function_name": fn.name,
            "function_arn": self.function_arn,
            "alias_arn": self.alias_arn,
            "action": _action(fn.create, fn.changed),
            "changed": self.changed,
            "dry_run": self.dry_run,
            "applied": self.applied,
            "code": {
                "sha256": self.code_sha256,
                "size": self.code_size,
                "changed": fn.code_changed,
            },
            "configuration": fn.desired,
            "changes": _changes_json(fn.changes),
            "trigger": trigger,
            "notes": list(fn.notes),
        }

    def render(self) -> str:
        fn, trig = self.function, self.trigger
        notes = [f"  note: {n}" for n in (*fn.notes, *(trig.notes if trig else ()))]
        if not self.changed:
            lines = [f"Nothing to change: {fn.name} and its trigger are as configured."]
            if trig is None:
                lines = [f"Nothing to change: {fn.name} is as configured (no [trigger] stream)."]
            return "\n".join(lines + notes)
        verb = "Would" if self.dry_run else "Did"
        lines = []
        if fn.create:
            lines.append(f"{verb} create function {fn.name} ({self.code_size} bytes of code):")
        elif fn.changed:
            lines.append(f"{verb} update function {fn.name}:")
        else:
            lines.append(f"Function {fn.name}: unchanged.")
        if fn.code_changed and not fn.create:
            lines.append(f"  code -> sha256 {self.code_sha256[:12]} ({self.code_size} bytes)")
        lines += _change_lines(fn.changes, fn.create)
        if trig is None:
            lines.append("No [trigger] stream: no Kinesis trigger.")
        elif trig.create:
            lines.append(f"{verb} create the trigger {trig.stream_arn} -> {trig.target}:")
        elif trig.changes:
            lines.append(f"{verb} update the trigger {trig.uuid}:")
        else:
            lines.append(f"Trigger {trig.uuid}: unchanged.")
        if trig is not None:
            lines += _change_lines(trig.changes, trig.create)
        lines += notes
        if self.dry_run:
            lines.append("Dry run: nothing was changed.")
        return "\n".join(lines)


# -- reading the live state and applying the plan ----------------------------------------------------
def _latest_layer(gw: Gateway, name: str) -> str | None:
    versions = gw.list_layer_versions(name)
    return versions[0]["LayerVersionArn"] if versions else None


def _stream_arn(gw: Gateway, stream: str) -> str:
    return stream if stream.startswith("arn:") else gw.describe_stream(stream)["StreamARN"]


def _on_failure_arn(gw: Gateway, url: str) -> str | None:
    if not url:
        return None
    if url.startswith("arn:"):
        return url
    if url.startswith("sqs://"):
        return gw.queue_arn(url[len("sqs://") :])
    return gw.topic_arn(url[len("sns://") :])


def deploy_function(
    gw: Gateway,
    settings: Settings,
    *,
    workdir: Path,
    dry_run: bool = False,
    confirm: Callable[[str], None] = lambda _question: None,
    function_dir: Path | None = None,
    relinker: Relinker | None = None,
) -> DeployResult:
    """Create or update the function and its trigger; idempotent (see the module docstring)."""
    name = settings.function.name
    code, code_sha = build_code_zip(workdir / "function.zip", function_dir)
    config = gw.get_function_configuration(name) if gw.function_exists(name) else None
    fplan = plan_function(
        settings,
        config,
        code_sha=code_sha,
        deps_latest=_latest_layer(gw, settings.deps.layer),
        model_latest=_latest_layer(gw, settings.model.layer),
    )
    alias = settings.model.alias
    stream = settings.trigger.stream
    tplan = None
    function_arn = (config or {}).get("FunctionArn", "")
    if stream:
        stream_arn = _stream_arn(gw, stream)
        on_failure = _on_failure_arn(gw, settings.trigger.on_failure)
        target_base = (
            function_arn or f"arn:aws:lambda:{gw.region}:{gw.account_id()}:function:{name}"
        )
        target = f"{target_base}:{alias}" if alias else target_base
        mappings: dict[str, dict] = {}
        same_target: list[str] = []
        if config is not None:
            # By ARN: AWS takes a name too, but moto 5.2.5 then matches nothing.
            for m in gw.list_event_source_mappings(function_arn, stream_arn):
                mappings[m["UUID"]] = m
            live_alias = gw.get_alias(name, alias) if alias else None
            if live_alias is not None:
                for m in gw.list_event_source_mappings(target, stream_arn):
                    mappings[m["UUID"]] = m
                # moto 5.2.5 reports a mapping made on an alias by the version the alias
                # points to (AWS keeps the alias ARN); take that as the alias too.
                same_target.append(f"{function_arn}:{live_alias['FunctionVersion']}")
        tplan = plan_trigger(
            settings,
            list(mappings.values()),
            stream_arn=stream_arn,
            target=target,
            on_failure_arn=on_failure,
            same_target=same_target,
        )
    alias_missing = bool(alias) and (config is None or gw.get_alias(name, alias) is None)
    result = DeployResult(
        fplan,
        tplan,
        applied=False,
        dry_run=dry_run,
        function_arn=function_arn,
        alias_arn=f"{function_arn}:{alias}" if function_arn and alias and not alias_missing else "",
        mapping_uuid=(tplan.uuid or "") if tplan else "",
        code_sha256=code_sha,
        code_size=len(code),
    )
    if dry_run or not (result.changed or alias_missing):
        return result
    confirm(f"Deploy {name}?")

    # The code zip is kept in the artifact bucket by its sha256, as layer zips are: the local
    # emulation runs the function from there (moto cannot hand the code back).
    bucket = settings.artifacts.bucket
    key = f"functions/{code_sha}.zip"
    gw.ensure_bucket(bucket)
    if not gw.object_exists(bucket, key):
        gw.put_bytes(bucket, key, code, content_type="application/zip")

    relinker = relinker or Relinker(gw)
    desired = fplan.desired
    if fplan.create:
        created = gw.create_function(
            FunctionName=name,
            Runtime=desired["Runtime"],
            Handler=desired["Handler"],
            Role=desired["Role"],
            Code={"ZipFile": code},
            Architectures=desired["Architectures"],
            MemorySize=desired["MemorySize"],
            Timeout=desired["Timeout"],
            Layers=desired["Layers"],
            Environment={"Variables": desired["Environment"]},
            Description="mlayer prediction function",
        )
        function_arn = created["FunctionArn"]
        relinker.wait_updatable(name)
    else:
        if fplan.code_changed or any(c.key == "Architectures" for c in fplan.changes):
            current = relinker.wait_updatable(name)
            gw.update_function_code(
                name,
                code,
                architectures=desired["Architectures"],
                revision_id=current.get("RevisionId"),
            )
            relinker.wait_successful(name)
        config_keys = [c.key for c in fplan.changes if c.key != "Architectures"]
        if config_keys:
            current = relinker.wait_updatable(name)
            params = {k: desired[k] for k in config_keys}
            if "Environment" in params:
                params["Environment"] = {"Variables": params["Environment"]}
            gw.update_function_configuration(name, revision_id=current.get("RevisionId"), **params)
            relinker.wait_successful(name)
    alias_arn = ""
    if alias:
        if fplan.changed or alias_missing:
            current = relinker.wait_updatable(name)
            relinker.move_alias(name, alias, current.get("RevisionId"))
        alias_arn = f"{function_arn}:{alias}"

    mapping_uuid = ""
    if tplan is not None:
        target = alias_arn or function_arn
        if tplan.create:
            params = dict(tplan.desired)
            if not params["DestinationConfig"]["OnFailure"]:
                del params["DestinationConfig"]
            created = gw.create_event_source_mapping(
                EventSourceArn=tplan.stream_arn, FunctionName=target, **params
            )
            mapping_uuid = created["UUID"]
        else:
            mapping_uuid = tplan.uuid or ""
            if tplan.changes:
                params = {c.key: tplan.desired.get(c.key, c.after) for c in tplan.changes}
                if "FunctionName" in params:
                    params["FunctionName"] = target
                gw.update_event_source_mapping(mapping_uuid, **params)
    return DeployResult(
        fplan,
        tplan,
        applied=True,
        dry_run=False,
        function_arn=function_arn,
        alias_arn=alias_arn,
        mapping_uuid=mapping_uuid,
        code_sha256=code_sha,
        code_size=len(code),
    )
