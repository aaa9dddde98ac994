"""`mlayer status`: the function's layers (each with its role and size), the budget they leave,
the live model's S3 objects and permission, and with [model] alias what the alias carries.

Read-only, and loud about what breaks cold starts: a missing S3 object or a role that cannot
read it is a problem, not a detail.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlayer.arns import LayerVersionArn
from mlayer.config import Settings
from mlayer.deploying import role as function_role
from mlayer.errors import NotFoundError
from mlayer.gateway import Gateway
from mlayer.gateway.views import FunctionConfig
from mlayer.publishing import ephemeral, model_store
from mlayer.publishing.models import LayerSize
from mlayer.publishing.planner import unknown_size_warning
from mlayer.publishing.store import ArtifactStore
from mlayer.results.status import StatusLayer, StatusResult
from mlayer.rollout.commands import status_rollout
from mlayer.runtimes import MAX_LAYERS, MAX_UNZIPPED_BYTES
from mlayer.shadow import state as shadow_state
from mlayer.views.inspection import own

OnAlias = tuple[str | None, int | None, str | None]  # function version, model version, label


@dataclass(frozen=True)
class ModelObjects:
    """The live model's S3 objects: where, whether the role may read them, what is wrong."""

    place: model_store.Placement
    permission: dict[str, Any] | None
    problems: list[str]


@dataclass(frozen=True)
class AliasView:
    """[model] alias as status shows it (alias None: none configured, or it does not exist)."""

    alias: str | None = None
    on_alias: OnAlias = (None, None, None)
    rollout: dict[str, object] | None = None


def status(gw: Gateway, settings: Settings) -> StatusResult:
    """The function's layers (each with its role and size), its budget left and its state; with
    [model] alias, the model the alias carries and whether it is $LATEST's."""
    function = settings.function.name
    config = gw.function_config(function)
    store = ArtifactStore(gw, settings.artifacts.bucket)
    code = store.function_size_of(config)
    layers, live_manifest = status_layers(gw, store, settings, config)
    total = code.unzipped + sum(ly.unzipped_size for ly in layers)
    unknown = tuple(ly.arn for ly in layers if not ly.size_known)
    warnings = [w for w in [unknown_size_warning(unknown, MAX_UNZIPPED_BYTES - total)] if w]
    objects = model_objects(gw, config, live_manifest)
    gaps = function_role.gaps(gw, settings, config.role or "")
    model = next((ly for ly in layers if ly.role == "model"), None)
    view = alias_view(gw, settings, store, model.version if model else None, warnings)
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
        model_store=objects.place.store if live_manifest is not None else None,
        model_trusted_globals=tuple((live_manifest or {}).get("trusted_globals") or ()),
        s3_objects=objects.place.s3_objects,
        s3_permission=objects.permission,
        role_missing=None if gaps is None else tuple(g.to_dict() for g in gaps),
        ephemeral_storage=ephemeral.tmp_or_default(config.tmp_mb),
        alias=view.alias,
        alias_function_version=view.on_alias[0],
        alias_model_version=view.on_alias[1],
        alias_model_label=view.on_alias[2],
        unknown_sizes=unknown,
        warnings=tuple(warnings),
        problems=tuple(objects.problems),
        shadow=shadow.to_dict() if shadow and shadow.active else None,
        rollout=view.rollout,
    )


def status_layers(
    gw: Gateway, store: ArtifactStore, settings: Settings, config: FunctionConfig
) -> tuple[list[StatusLayer], dict[str, Any] | None]:
    """Each layer with its role (deps, model: only the caller's own; else other) and size; and
    the live model's manifest, read from the model layer."""
    roles = {settings.deps.layer: "deps", settings.model.layer: "model"}
    account = gw.known_account()
    layers = []
    live_manifest = None
    for entry in config.layers:
        arn = entry.arn
        parsed = LayerVersionArn.try_parse(arn)
        size = store.layer_size(arn) if parsed else LayerSize(entry.code_size, exact=False)
        role = roles.get(parsed.name, "other") if parsed and own(parsed, account) else "other"
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
    return layers, live_manifest


def model_objects(
    gw: Gateway, config: FunctionConfig, live_manifest: dict[str, Any] | None
) -> ModelObjects:
    """The live model's S3 objects, whether the function's role may read them, and each one
    missing or of another size (either fails every cold start)."""
    place = model_store.placement(live_manifest)
    permission = None
    if place.s3_objects:
        permission = {
            "action": model_store.GET_OBJECT,
            "resources": place.resources,
            "role": config.role,
            "granted": model_store.role_can_read(gw, config.role, place.resources),
        }
    return ModelObjects(place, permission, s3_problems(gw, place))


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


def alias_view(
    gw: Gateway, settings: Settings, store: ArtifactStore, live: int | None, warnings: list[str]
) -> AliasView:
    """What [model] alias carries against $LATEST's model version ``live``, and the rollout
    running on it; its warnings are appended to ``warnings``."""
    function, alias = settings.function.name, settings.model.alias or None
    if not alias:
        return AliasView()
    try:
        on_alias = model_layer_on(gw, store, function, settings.model.layer, alias)
    except NotFoundError:
        warnings.append(f"Function {function} has no alias {alias} ([model] alias).")
        return AliasView()
    apart = apart_warning(function, alias, on_alias, live)
    warnings += [apart] if apart else []
    rollout, unreadable = status_rollout(gw, settings, alias)  # its split, while one runs
    warnings += [unreadable] if unreadable else []
    return AliasView(alias, on_alias, rollout)


def model_layer_on(
    gw: Gateway, store: ArtifactStore, function: str, model_layer: str, qualifier: str
) -> OnAlias:
    """(function version, model-layer version, label) that ``qualifier`` (an alias) carries."""
    config = gw.function_config(function, qualifier)
    account = gw.known_account()
    arn = next(
        (
            a
            for a in config.layer_arns
            if (p := LayerVersionArn.try_parse(a)) and p.name == model_layer and own(p, account)
        ),
        None,
    )
    if arn is None:
        return config.version, None, None
    label = (store.manifest(store.layer_sha(arn)) or {}).get("model_version")
    return config.version, LayerVersionArn.parse(arn).version, label


def apart_warning(function: str, alias: str, on_alias: OnAlias, live: int | None) -> str | None:
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
