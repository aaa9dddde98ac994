"""`mlayer deploy-function`: read the live state, plan (deploy_plan.py), then apply the differences.

Three stages, as for every mlayer change: read the live state (read-only calls: ONE read of
the function, the plan's RevisionId; with an alias, the alias, its version and its provisioned
concurrency), plan (pure, deploy_plan.py), then, after ``confirm``, apply only the differences
in the order of deploy_apply.py, which names the state left by a failed call. A second run finds
no difference and says so without writing anything. A deploy that moves the dependencies layer
under the model layer the function keeps is checked as a publish is (compat.py), and SnapStart's
/tmp limit is checked, before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from mlayer.arns import layer_name
from mlayer.config import Settings
from mlayer.deploying import file_trigger_deploy, role
from mlayer.deploying.deploy_apply import apply_plan
from mlayer.deploying.deploy_plan import (
    HANDLER,
    Change,
    FunctionPlan,
    TriggerPlan,
    alias_model_layer,
    check_snapstart_tmp,
    on_failure_url,
    plan_alias,
    plan_function,
    plan_trigger,
)
from mlayer.deploying.deploy_progress import DeployIncompleteError
from mlayer.deploying.function_code import build_code_zip, code_zip
from mlayer.errors import NotFoundError
from mlayer.gateway import Gateway
from mlayer.gateway.views import TMP_KEY, Alias, EventSourceMapping, FunctionConfig
from mlayer.policy.role_plan import RolePlan
from mlayer.publishing import ephemeral
from mlayer.publishing.compat import check_function_layers
from mlayer.publishing.relink import Relinker
from mlayer.publishing.store import ArtifactStore, function_key
from mlayer.request_types import DeployRequest
from mlayer.results.deploy import DeployResult

__all__ = ["HANDLER", "DeployIncompleteError", "build_code_zip", "deploy_function"]


# -- reading the live state -------------------------------------------------------------------------
def _stream_arn(gw: Gateway, stream: str) -> str:
    return stream if stream.startswith("arn:") else gw.stream_arn(stream)


def _on_failure_arn(gw: Gateway, url: str) -> str | None:
    """The destination's ARN: a queue or topic by name (they must exist), a bucket as
    ``arn:aws:s3:::bucket`` (Lambda takes a bucket, no prefix, for stream sources)."""
    if not url:
        return None
    if url.startswith("arn:"):
        return url
    if url.startswith("sqs://"):
        return gw.queue_arn(url[len("sqs://") :])
    if url.startswith("s3://"):
        return f"arn:aws:s3:::{url[len('s3://') :].split('/', 1)[0]}"
    return gw.topic_arn(url[len("sns://") :])


def _trigger_plan(
    gw: Gateway,
    settings: Settings,
    config: FunctionConfig | None,
    live_alias: Alias | None,
) -> TriggerPlan | None:
    """The plan of the [trigger] stream's mapping (None without a stream), from the live ones."""
    stream = settings.trigger.stream
    if not stream:
        return None
    name, alias = settings.function.name, settings.model.alias
    function_arn = config.arn if config else ""
    stream_arn = _stream_arn(gw, stream)
    target_base = function_arn or f"arn:aws:lambda:{gw.region}:{gw.account_id()}:function:{name}"
    target = f"{target_base}:{alias}" if alias else target_base
    mappings: dict[str, EventSourceMapping] = {}
    same_target: list[str] = []
    if config is not None:
        # By ARN: AWS takes a name too, but moto 5.2.5 then matches nothing.
        for m in gw.event_source_mappings(function_arn, stream_arn):
            mappings[m.uuid] = m
        if live_alias is not None:
            for m in gw.event_source_mappings(target, stream_arn):
                mappings[m.uuid] = m
            # moto 5.2.5 reports a mapping made on an alias by the version the alias
            # points to (AWS keeps the alias ARN); take that as the alias too.
            same_target.append(f"{function_arn}:{live_alias.function_version}")
    return plan_trigger(
        settings,
        list(mappings.values()),
        stream_arn=stream_arn,
        target=target,
        on_failure_arn=_on_failure_arn(gw, on_failure_url(settings)),
        same_target=same_target,
    )


def _fit_tmp(
    store: ArtifactStore, settings: Settings, fplan: FunctionPlan, config: FunctionConfig | None
) -> tuple[FunctionPlan, list[str]]:
    """Grow /tmp (EphemeralStorage) for the model layer the function will carry when its
    artifacts are in S3, and warn when the model is over half the memory (ephemeral.py)."""
    model = next((a for a in fplan.desired.layers if layer_name(a) == settings.model.layer), None)
    manifest = store.manifest(store.layer_sha(model)) if model else None
    tmp = ephemeral.plan_tmp(manifest, config.tmp_mb if config else None, function=fplan.name)
    memory = ephemeral.memory_warning(manifest, fplan.desired.memory)
    if tmp.size_mb is None:  # nothing changes
        return fplan, [memory] if memory else []
    change = Change(TMP_KEY, tmp.current_mb if config else None, tmp.size_mb)
    fplan = replace(
        fplan, changes=(*fplan.changes, change), desired=fplan.desired.with_tmp(tmp.size_mb)
    )
    return fplan, [memory] if memory else []


def _read(gw: Gateway, relinker: Relinker, name: str) -> FunctionConfig | None:
    """The one read the plan comes from (once no update is in progress); None: no function."""
    try:
        return relinker.wait_updatable(name)
    except NotFoundError:
        return None


def _alias_reads(
    gw: Gateway, name: str, alias: str, exists: bool
) -> tuple[Alias | None, FunctionConfig | None, int]:
    """The alias, its version's configuration, and its provisioned concurrency (None, None, 0)."""
    if not alias or not exists:
        return None, None, 0
    live = gw.alias(name, alias)
    if live is None:
        return None, None, 0
    version = gw.function_config(name, qualifier=live.function_version)
    return live, version, gw.provisioned_concurrency(name, alias)


def _snapstart_tmp(settings: Settings, fplan: FunctionPlan, config: FunctionConfig | None) -> None:
    """SnapStart allows at most 512 MB of /tmp: an S3-stored model that needs more is refused."""
    size = fplan.desired.tmp_mb or ephemeral.tmp_or_default(config.tmp_mb if config else None)
    check_snapstart_tmp(settings, size, fplan.name)


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
    """Create or update the function, its alias and its trigger; idempotent (module docstring)."""
    relinker = relinker or Relinker(gw)
    settings, rplan = _resolve(gw, settings, request)
    built = code_zip(workdir / "function.zip", settings.function.runtime, function_dir)
    code = built.data
    config = _read(gw, relinker, settings.function.name)
    result = _plan(gw, settings, request, config, rplan, code, built.sha256)
    if built.note:  # no pycs for the runtime: said once, among the function's notes
        fn = result.function
        result = replace(result, function=replace(fn, notes=(*fn.notes, built.note)))
    if request.dry_run or not result.changed:
        return result
    confirm(f"Deploy {settings.function.name}?")
    return _apply(gw, relinker, settings, config, code, result)


def _resolve(
    gw: Gateway, settings: Settings, request: DeployRequest
) -> tuple[Settings, RolePlan | None]:
    """The settings with the role the function will run under: with ``--create-role`` (or
    ``role = "create"``) the created role's ARN, so the function is planned with it."""
    if request.create_role:
        settings = replace(settings, function=replace(settings.function, role="create"))
    rplan = role.plan(gw, settings) if role.uses_created_role(settings) else None
    if rplan is not None:
        settings = replace(settings, function=replace(settings.function, role=rplan.arn))
    return settings, rplan


def _plan(
    gw: Gateway,
    settings: Settings,
    request: DeployRequest,
    config: FunctionConfig | None,
    rplan: RolePlan | None,
    code: bytes,
    code_sha: str,
) -> DeployResult:
    """Every decision, from reads only: the function, its alias, both triggers (unapplied)."""
    name, alias = settings.function.name, settings.model.alias
    live_alias, alias_version, provisioned = _alias_reads(gw, name, alias, config is not None)
    fplan, warnings = _function_plan(gw, settings, request, config, alias_version, code_sha)
    aplan = plan_alias(settings, fplan, config, live_alias, alias_version, provisioned)
    tplan = _trigger_plan(gw, settings, config, live_alias)
    splan = file_trigger_deploy.plan(gw, settings, config)  # [trigger] s3
    function_arn = config.arn if config else ""
    return DeployResult(
        fplan,
        tplan,
        applied=False,
        dry_run=request.dry_run,
        function_arn=function_arn,
        alias_arn=f"{function_arn}:{alias}" if live_alias else "",
        mapping_uuid=(tplan.uuid or "") if tplan else "",
        code_sha256=code_sha,
        code_size=len(code),
        warnings=tuple(warnings),
        alias=aplan,
        role=rplan,
        files=splan,
    )


def _function_plan(
    gw: Gateway,
    settings: Settings,
    request: DeployRequest,
    config: FunctionConfig | None,
    alias_version: FunctionConfig | None,
    code_sha: str,
) -> tuple[FunctionPlan, list[str]]:
    """The function's plan with /tmp fitted to its model, refused before any write when
    SnapStart's /tmp limit or the layers' compatibility (compat.py) says no; its warnings."""
    store = ArtifactStore(gw, settings.artifacts.bucket)
    fplan = plan_function(
        settings,
        config,
        code_sha=code_sha,
        deps_latest=gw.latest_layer_arn(settings.deps.layer),
        model_latest=gw.latest_layer_arn(settings.model.layer),
        model_live=alias_model_layer(alias_version, settings.model.layer),
    )
    fplan, warnings = _fit_tmp(store, settings, fplan, config)
    _snapstart_tmp(settings, fplan, config)
    if fplan.create or any(c.key == "Layers" for c in fplan.changes):
        warnings += check_function_layers(
            store,
            list(fplan.desired.layers),
            deps_layer=settings.deps.layer,
            model_layer=settings.model.layer,
            allow_mismatch=request.allow_version_mismatch,
        )
    return fplan, warnings


def _apply(
    gw: Gateway,
    relinker: Relinker,
    settings: Settings,
    config: FunctionConfig | None,
    code: bytes,
    planned: DeployResult,
) -> DeployResult:
    """The writes: the code zip kept, the created role, the function, alias and stream trigger
    (deploy_apply.py's order), then the file trigger once the function exists."""
    _keep_code(gw, settings.artifacts.bucket, code, planned.code_sha256)
    if planned.role is not None and planned.role.changed:  # before the function runs under it
        role.apply(gw, planned.role)
    function_arn, alias_arn, mapping_uuid = apply_plan(
        gw,
        relinker,
        config,
        planned.function,
        planned.alias,
        planned.trigger,
        code=code,
        code_sha=planned.code_sha256,
    )
    if planned.files is not None and planned.files.changed:  # once the function (alias) exists
        file_trigger_deploy.apply(gw, planned.files)
    return replace(
        planned,
        applied=True,
        dry_run=False,
        function_arn=function_arn,
        alias_arn=alias_arn,
        mapping_uuid=mapping_uuid,
    )


def _keep_code(gw: Gateway, bucket: str, code: bytes, code_sha: str) -> None:
    """The code zip kept in the artifact bucket by its sha256, as layer zips are: the local
    emulation runs the function from there (moto cannot hand the code back)."""
    key = function_key(code_sha)
    gw.ensure_bucket(bucket)
    if not gw.object_exists(bucket, key):
        gw.put_bytes(bucket, key, code, content_type="application/zip")
