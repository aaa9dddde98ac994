"""history and status: read-only views of the model layer's versions and of the function."""

from __future__ import annotations

from mlayer.arns import LayerVersionArn, layer_name
from mlayer.config import Settings
from mlayer.deploying import role as function_role
from mlayer.errors import NotFoundError
from mlayer.gateway import Gateway
from mlayer.gateway.views import FunctionConfig
from mlayer.model import manifest as mf
from mlayer.publishing import ephemeral, model_store
from mlayer.publishing.models import LayerSize
from mlayer.publishing.planner import unknown_size_warning
from mlayer.publishing.store import ArtifactStore
from mlayer.request_types import HistoryRequest
from mlayer.results.history import HistoryResult, HistoryRow
from mlayer.results.status import StatusLayer, StatusResult
from mlayer.rollout.commands import status_rollout
from mlayer.runtimes import MAX_LAYERS, MAX_UNZIPPED_BYTES
from mlayer.shadow import state as shadow_state


def live_arns(gw: Gateway, function: str, qualifier: str | None = None) -> tuple[str, ...]:
    """The layer ARNs of the function (or of one alias/version of it); () when it is absent."""
    try:
        return gw.function_config(function, qualifier).layer_arns
    except NotFoundError:
        return ()


def model_room(
    store: ArtifactStore, config: FunctionConfig, model_layer: str
) -> tuple[int, tuple[str, ...]]:
    """Bytes of Lambda's budget the function's code and its other layers leave the model layer,
    and the layers whose size cannot be read here (counted as 0)."""
    others = [a for a in config.layer_arns if layer_name(a) != model_layer]
    used = store.function_size_of(config).unzipped
    sizes = store.layer_sizes(others, {})
    used += sum(size.unzipped for size in sizes.values())
    return MAX_UNZIPPED_BYTES - used, tuple(a for a, size in sizes.items() if not size.known)


def model_layer_on(
    gw: Gateway, store: ArtifactStore, function: str, model_layer: str, qualifier: str
) -> tuple[str | None, int | None, str | None]:
    """(function version, model-layer version, label) that ``qualifier`` (an alias) carries."""
    config = gw.function_config(function, qualifier)
    account = gw.known_account()
    arn = next(
        (
            a
            for a in config.layer_arns
            if (p := LayerVersionArn.try_parse(a)) and p.name == model_layer and _own(p, account)
        ),
        None,
    )
    if arn is None:
        return config.version, None, None
    label = (store.manifest(store.layer_sha(arn)) or {}).get("model_version")
    return config.version, LayerVersionArn.parse(arn).version, label


def apart_warning(
    function: str, alias: str, on_alias: tuple[str | None, int | None, str | None], live: int | None
) -> str | None:
    """The words for an alias whose model differs from $LATEST's (a relink whose alias move
    failed, or a rollback of $LATEST alone), and the command that brings them together."""
    fversion, model_version, label = on_alias
    if model_version == live:
        return None
    carried = (
        f"model layer version {model_version} ({label})" if model_version else "no model layer"
    )
    fix = f"`mlayer rollback --version {live} --alias {alias}`" if live else "`mlayer rollback`"
    return (
        f"Alias {alias} (function version {fversion}) carries {carried}, but $LATEST of {function} "
        f"carries model layer version {live}: they differ. {fix} moves the alias to $LATEST's model."
    )


def history(gw: Gateway, settings: Settings, request: HistoryRequest) -> HistoryResult:
    """Every model-layer version, newest first, with which one is live (and on the alias)."""
    bucket, function, layer = (
        settings.artifacts.bucket,
        settings.function.name,
        settings.model.layer,
    )
    alias = request.alias or settings.model.alias or None
    store = ArtifactStore(gw, bucket)
    warnings = []
    room = None
    config: FunctionConfig | None
    try:
        config = gw.function_config(function)
    except NotFoundError:
        config = None
        warnings.append(f"Function {function} does not exist: no version is marked live.")
    live = set(config.layer_arns) if config else set()
    if config is not None:
        room, unknown = model_room(store, config, layer)
        warnings += [w for w in [unknown_size_warning(unknown, room)] if w]
    on_alias: set[str] = set()
    if alias and config is not None:
        if gw.alias(function, alias) is None:
            warnings.append(
                f"Function {function} has no alias {alias}: no version is marked on it."
            )
        else:
            on_alias = set(live_arns(gw, function, alias))
    from mlayer.prune.command import would_remove

    prunable = would_remove(gw, settings) if config is not None else frozenset()
    shadow = shadow_state.load(gw, bucket, function) if config is not None else None
    shadow_arn = shadow.layer_version_arn if shadow and shadow.active else None
    rows = []
    for v in gw.layer_versions(layer):
        arn = v.arn
        detail = store.layer_detail(arn)
        sha = store.layer_sha(arn)
        manifest = store.manifest(sha) or {}
        desc = v.description
        arts = manifest.get("artifacts") or [{}]
        place = model_store.placement(manifest)
        rows.append(
            HistoryRow(
                version=v.version,
                arn=arn,
                label=manifest.get("model_version") or desc.split(" sha:")[0],
                short_sha=mf.short_sha(manifest.get("content_sha256", ""))
                or (mf.description_sha(desc) or ""),
                content_sha256=manifest.get("content_sha256"),
                created=v.created,
                zipped_size=(detail.code_size if detail else None) or 0,
                unzipped_size=store.zip_unzipped_size(sha),
                sklearn_version=arts[-1].get("sklearn_version"),
                live=arn in live,
                live_on_alias=arn in on_alias,
                description=desc,
                store=place.store,
                s3_objects=place.s3_objects,
                prunable=v.version in prunable,
                trusted_globals=tuple(manifest.get("trusted_globals") or ()),
                shadow=arn == shadow_arn,
            )
        )
    return HistoryResult(
        layer_name=layer,
        function=function,
        alias=alias,
        versions=tuple(rows),
        warnings=tuple(warnings),
        model_room=room,
    )


def _own(parsed: LayerVersionArn, account: str | None) -> bool:
    """mlayer's layers are the caller's: another account's layer is "other" whatever its name."""
    return account is None or parsed.account == account


def s3_problems(gw: Gateway, place: model_store.Placement) -> list[str]:
    """What the live model's S3 objects lack (one HEAD each): a missing object, or one of
    another size, fails every cold start (ArtifactMissingError), so status must say so."""
    problems = []
    for obj in place.s3_objects:
        uri = f"s3://{obj['bucket']}/{obj['key']}"
        size = gw.object_size(obj["bucket"], obj["key"])
        if size is None:
            problems.append(f"live model object {uri} is missing: every cold start fails.")
        elif size != obj["size"]:
            problems.append(
                f"live model object {uri} is {size} bytes, its manifest says {obj['size']}: "
                "every cold start fails."
            )
    return problems


def status(gw: Gateway, settings: Settings) -> StatusResult:
    """The function's layers (each with its role and size), its budget left and its state; with
    [model] alias, the model the alias carries and whether it is $LATEST's."""
    function = settings.function.name
    config = gw.function_config(function)
    store = ArtifactStore(gw, settings.artifacts.bucket)
    code = store.function_size_of(config)
    roles = {settings.deps.layer: "deps", settings.model.layer: "model"}
    account = gw.known_account()
    layers = []
    live_manifest = None
    for entry in config.layers:
        arn = entry.arn
        parsed = LayerVersionArn.try_parse(arn)
        size = store.layer_size(arn) if parsed else LayerSize(entry.code_size, exact=False)
        role = roles.get(parsed.name, "other") if parsed and _own(parsed, account) else "other"
        label = None
        if role == "model":
            live_manifest = store.manifest(store.layer_sha(arn))
            label = (live_manifest or {}).get("model_version")
        layers.append(
            StatusLayer(
                arn,
                parsed.name if parsed else None,
                parsed.version if parsed else None,
                role,
                entry.code_size,
                size.unzipped,
                size.exact,
                label,
                size_known=size.known,
            )
        )
    total = code.unzipped + sum(ly.unzipped_size for ly in layers)
    unknown = tuple(ly.arn for ly in layers if not ly.size_known)
    warnings = [w for w in [unknown_size_warning(unknown, MAX_UNZIPPED_BYTES - total)] if w]
    place = model_store.placement(live_manifest)
    permission = None
    if place.s3_objects:
        permission = {
            "action": model_store.GET_OBJECT,
            "resources": place.resources,
            "role": config.role,
            "granted": model_store.role_can_read(gw, config.role, place.resources),
        }
    problems = s3_problems(gw, place)
    gaps = function_role.gaps(gw, settings, config.role or "")
    alias = settings.model.alias or None
    on_alias: tuple[str | None, int | None, str | None] = (None, None, None)
    rollout: dict[str, object] | None = None
    model = next((ly for ly in layers if ly.role == "model"), None)
    if alias:
        try:
            on_alias = model_layer_on(gw, store, function, settings.model.layer, alias)
        except NotFoundError:
            warnings.append(f"Function {function} has no alias {alias} ([model] alias).")
            alias = None
    if alias:
        apart = apart_warning(function, alias, on_alias, model.version if model else None)
        warnings += [apart] if apart else []
        rollout, unreadable = status_rollout(gw, settings, alias)  # its split, while one runs
        warnings += [unreadable] if unreadable else []
    shadow = shadow_state.load(gw, settings.artifacts.bucket, function)
    return StatusResult(
        function=function,
        state=config.state,
        last_update_status=config.update_status,
        runtime=config.runtime,
        architectures=config.architectures,
        code_size=code.unzipped,
        layers=tuple(layers),
        total_unzipped=total,
        budget_left=MAX_UNZIPPED_BYTES - total,
        max_layers=MAX_LAYERS,
        limit_bytes=MAX_UNZIPPED_BYTES,
        model_store=place.store if live_manifest is not None else None,
        model_trusted_globals=tuple((live_manifest or {}).get("trusted_globals") or ()),
        s3_objects=place.s3_objects,
        s3_permission=permission,
        role_missing=None if gaps is None else tuple(g.to_dict() for g in gaps),
        ephemeral_storage=ephemeral.tmp_or_default(config.tmp_mb),
        alias=alias,
        alias_function_version=on_alias[0],
        alias_model_version=on_alias[1],
        alias_model_label=on_alias[2],
        unknown_sizes=unknown,
        warnings=tuple(warnings),
        problems=tuple(problems),
        shadow=shadow.to_dict() if shadow and shadow.active else None,
        rollout=rollout,
    )
