"""`mlayer deploy-function`: read the live state, plan (deploy_plan.py), then apply the differences.

Three stages, as for every mlayer change: read the live state (read-only calls), plan (pure),
then, after ``confirm``, apply only the differences. A second run finds no difference and says
so without writing anything. A deploy that moves the dependencies layer under the model layer
the function keeps is checked as a publish is (compat.py), before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from mlayer import ephemeral
from mlayer.arns import layer_name
from mlayer.compat import check_function_layers
from mlayer.config import Settings
from mlayer.deploy_plan import (
    HANDLER,
    Change,
    FunctionPlan,
    TriggerPlan,
    plan_function,
    plan_trigger,
)
from mlayer.function_code import build_code_zip
from mlayer.gateway import Gateway
from mlayer.relink import Relinker
from mlayer.request_types import DeployRequest
from mlayer.results.deploy import DeployResult
from mlayer.store import ArtifactStore, function_key

__all__ = ["HANDLER", "build_code_zip", "deploy_function"]


# -- reading the live state -------------------------------------------------------------------------
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


def _trigger_plan(gw: Gateway, settings: Settings, config: dict | None) -> TriggerPlan | None:
    """The plan of the [trigger] stream's mapping (None without a stream), from the live ones."""
    stream = settings.trigger.stream
    if not stream:
        return None
    name, alias = settings.function.name, settings.model.alias
    function_arn = (config or {}).get("FunctionArn", "")
    stream_arn = _stream_arn(gw, stream)
    target_base = function_arn or f"arn:aws:lambda:{gw.region}:{gw.account_id()}:function:{name}"
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
    return plan_trigger(
        settings,
        list(mappings.values()),
        stream_arn=stream_arn,
        target=target,
        on_failure_arn=_on_failure_arn(gw, settings.trigger.on_failure),
        same_target=same_target,
    )


def _fit_tmp(
    store: ArtifactStore, settings: Settings, fplan: FunctionPlan, config: dict | None
) -> tuple[FunctionPlan, list[str]]:
    """Grow /tmp (EphemeralStorage) for the model layer the function will carry when its
    artifacts are in S3, and warn when the model is over half the memory (ephemeral.py)."""
    model = next(
        (a for a in fplan.desired["Layers"] if layer_name(a) == settings.model.layer), None
    )
    manifest = store.manifest(store.layer_sha(model)) if model else None
    tmp = ephemeral.plan_ephemeral(manifest, config, function=fplan.name)
    memory = ephemeral.memory_warning(manifest, fplan.desired["MemorySize"])
    if not tmp.changes:
        return fplan, [memory] if memory else []
    change = Change("EphemeralStorage", tmp.current_mb if config else None, tmp.size_mb)
    fplan = replace(
        fplan,
        changes=(*fplan.changes, change),
        desired={**fplan.desired, "EphemeralStorage": tmp.size_mb},
    )
    return fplan, [memory] if memory else []


# -- applying the plan ------------------------------------------------------------------------------
def _apply_function(
    gw: Gateway, relinker: Relinker, fplan: FunctionPlan, code: bytes, function_arn: str
) -> str:
    """Create the function, or update its code then its configuration; its ARN."""
    name, desired = fplan.name, fplan.desired
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
            **_tmp_param(desired),
        )
        relinker.wait_updatable(name)
        return created["FunctionArn"]
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
        params.update(_tmp_param(params))
        gw.update_function_configuration(name, revision_id=current.get("RevisionId"), **params)
        relinker.wait_successful(name)
    return function_arn


def _tmp_param(values: dict) -> dict:
    """EphemeralStorage in AWS's shape, when the plan sets it."""
    size = values.get("EphemeralStorage")
    return {"EphemeralStorage": {"Size": size}} if size else {}


def _apply_trigger(gw: Gateway, tplan: TriggerPlan, target: str) -> str:
    """Create the mapping, or update what differs (re-pointing it at ``target``); its UUID."""
    if tplan.create:
        params = dict(tplan.desired)
        if not params["DestinationConfig"]["OnFailure"]:
            del params["DestinationConfig"]
        created = gw.create_event_source_mapping(
            EventSourceArn=tplan.stream_arn, FunctionName=target, **params
        )
        return created["UUID"]
    uuid = tplan.uuid or ""
    if tplan.changes:
        params = {c.key: tplan.desired.get(c.key, c.after) for c in tplan.changes}
        if "FunctionName" in params:
            params["FunctionName"] = target
        gw.update_event_source_mapping(uuid, **params)
    return uuid


def deploy_function(
    gw: Gateway,
    settings: Settings,
    request: DeployRequest,
    *,
    workdir: Path,
    confirm: Callable[[str], None] = lambda _question: None,
    function_dir: Path | None = None,
    relinker: Relinker | None = None,
) -> DeployResult:
    """Create or update the function and its trigger; idempotent (see the module docstring)."""
    name, alias = settings.function.name, settings.model.alias
    code, code_sha = build_code_zip(workdir / "function.zip", function_dir)
    config = gw.get_function_configuration(name) if gw.function_exists(name) else None
    fplan = plan_function(
        settings,
        config,
        code_sha=code_sha,
        deps_latest=_latest_layer(gw, settings.deps.layer),
        model_latest=_latest_layer(gw, settings.model.layer),
    )
    fplan, warnings = _fit_tmp(
        ArtifactStore(gw, settings.artifacts.bucket), settings, fplan, config
    )
    if fplan.create or any(c.key == "Layers" for c in fplan.changes):
        warnings += check_function_layers(
            ArtifactStore(gw, settings.artifacts.bucket),
            fplan.desired["Layers"],
            deps_layer=settings.deps.layer,
            model_layer=settings.model.layer,
            allow_mismatch=request.allow_version_mismatch,
        )
    tplan = _trigger_plan(gw, settings, config)
    function_arn = (config or {}).get("FunctionArn", "")
    alias_missing = bool(alias) and (config is None or gw.get_alias(name, alias) is None)
    result = DeployResult(
        fplan,
        tplan,
        applied=False,
        dry_run=request.dry_run,
        function_arn=function_arn,
        alias_arn=f"{function_arn}:{alias}" if function_arn and alias and not alias_missing else "",
        mapping_uuid=(tplan.uuid or "") if tplan else "",
        code_sha256=code_sha,
        code_size=len(code),
        warnings=tuple(warnings),
    )
    if request.dry_run or not (result.changed or alias_missing):
        return result
    confirm(f"Deploy {name}?")

    # The code zip is kept in the artifact bucket by its sha256, as layer zips are: the local
    # emulation runs the function from there (moto cannot hand the code back).
    bucket = settings.artifacts.bucket
    key = function_key(code_sha)
    gw.ensure_bucket(bucket)
    if not gw.object_exists(bucket, key):
        gw.put_bytes(bucket, key, code, content_type="application/zip")

    relinker = relinker or Relinker(gw)
    function_arn = _apply_function(gw, relinker, fplan, code, function_arn)
    alias_arn = ""
    if alias:
        if fplan.changed or alias_missing:
            current = relinker.wait_updatable(name)
            relinker.move_alias(name, alias, current.get("RevisionId"))
        alias_arn = f"{function_arn}:{alias}"
    mapping_uuid = _apply_trigger(gw, tplan, alias_arn or function_arn) if tplan else ""
    return replace(
        result,
        applied=True,
        dry_run=False,
        function_arn=function_arn,
        alias_arn=alias_arn,
        mapping_uuid=mapping_uuid,
    )
