"""history and status: read-only views of the model layer's versions and of the function."""

from __future__ import annotations

from mlayer import ephemeral, model_store
from mlayer import manifest as mf
from mlayer.arns import LayerVersionArn, layer_name
from mlayer.config import Settings
from mlayer.errors import NotFoundError
from mlayer.gateway import Gateway
from mlayer.models import FunctionLayers, LayerSize
from mlayer.request_types import HistoryRequest
from mlayer.results.history import HistoryResult, HistoryRow
from mlayer.results.status import StatusLayer, StatusResult
from mlayer.runtimes import MAX_LAYERS, MAX_UNZIPPED_BYTES
from mlayer.store import ArtifactStore


def live_arns(gw: Gateway, function: str, qualifier: str | None = None) -> tuple[str, ...]:
    """The layer ARNs of the function (or of one alias/version of it); () when it is absent."""
    try:
        return FunctionLayers.from_configuration(
            gw.get_function_configuration(function, qualifier)
        ).arns
    except NotFoundError:
        return ()


def model_room(store: ArtifactStore, config: dict, model_layer: str) -> int:
    """Bytes of Lambda's budget the function's code and its other layers leave the model layer."""
    others = [
        a for a in FunctionLayers.from_configuration(config).arns if layer_name(a) != model_layer
    ]
    used = store.function_size(config).unzipped
    used += sum(size.unzipped for size in store.layer_sizes(others, {}).values())
    return MAX_UNZIPPED_BYTES - used


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
    try:
        config = gw.get_function_configuration(function)
        live = set(FunctionLayers.from_configuration(config).arns)
        room = model_room(store, config, layer)
    except NotFoundError:
        live = set()
        warnings.append(f"Function {function} does not exist: no version is marked live.")
    on_alias: set[str] = set()
    if alias and not warnings:
        if gw.get_alias(function, alias) is None:
            warnings.append(
                f"Function {function} has no alias {alias}: no version is marked on it."
            )
        else:
            on_alias = set(live_arns(gw, function, alias))
    rows = []
    for v in gw.list_layer_versions(layer):
        arn = v["LayerVersionArn"]
        detail = store.layer_version(arn)
        sha = store.layer_sha(arn)
        manifest = store.manifest(sha) or {}
        desc = v.get("Description", "") or ""
        arts = manifest.get("artifacts") or [{}]
        place = model_store.placement(manifest)
        rows.append(
            HistoryRow(
                version=v["Version"],
                arn=arn,
                label=manifest.get("model_version") or desc.split(" sha:")[0],
                short_sha=mf.short_sha(manifest.get("content_sha256", ""))
                or (mf.description_sha(desc) or ""),
                content_sha256=manifest.get("content_sha256"),
                created=str(v.get("CreatedDate", "")),
                zipped_size=int(detail["Content"].get("CodeSize") or 0),
                unzipped_size=store.zip_unzipped_size(sha),
                sklearn_version=arts[-1].get("sklearn_version"),
                live=arn in live,
                live_on_alias=arn in on_alias,
                description=desc,
                store=place.store,
                s3_objects=place.s3_objects,
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


def status(gw: Gateway, settings: Settings) -> StatusResult:
    """The function's layers (each with its role and size), its budget left and its state."""
    function = settings.function.name
    config = gw.get_function_configuration(function)
    store = ArtifactStore(gw, settings.artifacts.bucket)
    code = store.function_size(config)
    roles = {settings.deps.layer: "deps", settings.model.layer: "model"}
    layers = []
    live_manifest = None
    for entry in config.get("Layers") or []:
        arn = entry["Arn"]
        parsed = LayerVersionArn.try_parse(arn)
        size = (
            store.layer_size(arn)
            if parsed
            else LayerSize(int(entry.get("CodeSize") or 0), exact=False)
        )
        role = roles.get(parsed.name if parsed else "", "other")
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
                entry.get("CodeSize"),
                size.unzipped,
                size.exact,
                label,
            )
        )
    total = code.unzipped + sum(ly.unzipped_size for ly in layers)
    place = model_store.placement(live_manifest)
    permission = None
    if place.s3_objects:
        permission = {
            "action": model_store.GET_OBJECT,
            "resources": place.resources,
            "role": config.get("Role"),
            "granted": model_store.role_can_read(gw, config.get("Role"), place.resources),
        }
    return StatusResult(
        function=function,
        state=config.get("State"),
        last_update_status=config.get("LastUpdateStatus"),
        runtime=config.get("Runtime"),
        architectures=tuple(config.get("Architectures") or ()),
        code_size=code.unzipped,
        layers=tuple(layers),
        total_unzipped=total,
        budget_left=MAX_UNZIPPED_BYTES - total,
        max_layers=MAX_LAYERS,
        limit_bytes=MAX_UNZIPPED_BYTES,
        model_store=place.store if live_manifest is not None else None,
        s3_objects=place.s3_objects,
        s3_permission=permission,
        ephemeral_storage=ephemeral.current_mb(config),
    )
