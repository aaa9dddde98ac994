"""`mlayer shadow status|promote|stop`.

status reads the state file, the function's variables and its metrics (readings.py); promote
detaches the shadow from $LATEST, then makes the candidate live by the ordinary relink
(rollback.py, the alias moved when [model] alias is set); stop detaches it ($LATEST, then a
version and the alias). Each writes the state file last, so an interrupted command is run again.
"""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Callable
from typing import Any

from mlayer.arns import LayerVersionArn, layer_name
from mlayer.errors import AwsError, UsageError
from mlayer.gateway.views import DEFAULT_ARCHITECTURE, FunctionConfig
from mlayer.model.artifacts import utc_now
from mlayer.request_types import RollbackRequest
from mlayer.results.shadow import ShadowChangeResult, ShadowStatusResult
from mlayer.shadow import readings, state
from mlayer.shadow.attach import set_variables

MAX_WINDOWS = 24


def _epoch(stamp: str) -> float:
    return _dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _iso(epoch: float) -> str:
    return _dt.datetime.fromtimestamp(epoch, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _require(gw: Any, settings: Any, action: str) -> state.ShadowState:
    shadow = state.load(gw, settings.artifacts.bucket, settings.function.name)
    if shadow is None or not shadow.active:
        raise UsageError(
            f"{settings.function.name} has no active shadow to {action}"
            + (f" ({shadow.model_version} was {shadow.status})." if shadow else "."),
            "Attach one with `mlayer publish-model MODEL ... --shadow`.",
        )
    return shadow


def attached(config: FunctionConfig, shadow: state.ShadowState, bucket: str) -> bool:
    env = state.environment(config)
    return env.get(state.ENV_LAYER) == state.layer_uri(bucket, shadow.zip_sha256)


def shadow_status(
    gw: Any, settings: Any, window_s: int = 3600, clock: Callable[[], float] = time.time
) -> ShadowStatusResult:
    function, bucket = settings.function.name, settings.artifacts.bucket
    shadow = state.load(gw, bucket, function)
    if shadow is None:
        return ShadowStatusResult(function, None)
    config = gw.function_config(function)
    warnings = []
    on_function = attached(config, shadow, bucket)
    if shadow.active and not on_function:
        warnings.append(
            f"The state file says {shadow.model_version} is the shadow, but $LATEST of "
            f"{function} does not carry it ({state.ENV_LAYER}): someone changed its variables."
        )
    live = next(
        (a for a in config.layer_arns
         if layer_name(a) == layer_name(shadow.live_layer_version_arn)),
        None,
    )  # fmt: skip
    if shadow.active and live != shadow.live_layer_version_arn:
        warnings.append(
            f"The live model is now {live or 'none'}; the shadow was attached beside "
            f"{shadow.live_model_version} ({shadow.live_layer_version_arn}) and these figures "
            "compare with it. Attach the candidate again to compare it with the live model."
        )
    kw = dict(
        classifier=shadow.classifier,
        sample=shadow.sample,
        memory_mb=config.memory or 128,
        architecture=(config.architectures or (DEFAULT_ARCHITECTURE,))[0],
    )
    dims = {
        "function": function,
        "model_version": shadow.live_model_version,
        "shadow_version": shadow.model_version,
    }
    start = _epoch(shadow.started_at) - 60
    end = _epoch(shadow.ended_at) + 60 if shadow.ended_at else clock() + 60
    total = readings.read_window(gw, dims, start, end, start=_iso(start), end=_iso(end), **kw)
    windows = []
    first = max(start, end - window_s * MAX_WINDOWS)
    edge = first
    while edge < end:
        top = min(edge + window_s, end)
        windows.append(
            readings.read_window(gw, dims, edge, top, start=_iso(edge), end=_iso(top), **kw)
        )
        edge = top
    return ShadowStatusResult(
        function, shadow, on_function, total, tuple(windows), tuple(warnings), window_s
    )


def stop(
    gw: Any, settings: Any, request: Any, *, confirm: Callable[[str], None], now=utc_now
) -> ShadowChangeResult:
    function, bucket = settings.function.name, settings.artifacts.bucket
    shadow = _require(gw, settings, "stop")
    alias = request.alias or settings.model.alias or None
    if request.dry_run:
        return ShadowChangeResult("stop", shadow, dry_run=True)
    confirm(f"Detach the shadow {shadow.model_version} from {function}?")
    config = gw.function_config(function)
    env = state.with_shadow(state.environment(config), None)
    outcome = set_variables(gw, function, config, env, alias)
    ended = shadow.ended(state.STOPPED, now(), "stopped")
    state.save(gw, bucket, ended)
    return ShadowChangeResult("stop", ended, outcome=outcome)


def promote(
    gw: Any,
    settings: Any,
    request: Any,
    *,
    rollback: Callable[..., Any],
    confirm: Callable[[str], None],
    now=utc_now,
) -> ShadowChangeResult:
    """Detach, then the ordinary relink of the candidate's version (``rollback`` is
    rollback.rollback: compatibility, /tmp, objects present, the alias moved); with
    ``request.rollout`` (canary | linear) the alias moves by a rollout's steps instead."""
    function, bucket = settings.function.name, settings.artifacts.bucket
    shadow = _require(gw, settings, "promote")
    alias = request.alias or settings.model.alias or None
    version = LayerVersionArn.parse(shadow.layer_version_arn).version
    if request.rollout and request.rollout != "all-at-once":
        return _promote_by_rollout(gw, settings, request, shadow, version, rollback, confirm, now)
    relink = RollbackRequest(version=version, alias=alias, dry_run=True)
    planned = rollback(gw, settings, relink)  # every refusal before the first write
    if request.dry_run:
        return ShadowChangeResult("promote", shadow, dry_run=True, relink=planned)
    confirm(
        f"Promote {shadow.model_version}: detach the shadow and relink {function} to "
        f"{settings.model.layer} version {version}" + (f" (alias {alias} moved)?" if alias else "?")
    )
    config = gw.function_config(function)
    set_variables(gw, function, config, state.with_shadow(state.environment(config), None), None)
    try:
        relinked = rollback(gw, settings, RollbackRequest(version=version, alias=alias))
    except AwsError as exc:
        raise type(exc)(
            f"The shadow was detached from $LATEST of {function}, but relinking "
            f"{settings.model.layer} version {version} failed: {exc.message}",
            f"Complete it with `mlayer rollback --version {version}`. {exc.hint}".strip(),
            exc.code,
        ) from exc
    ended = shadow.ended(state.PROMOTED, now(), f"live as {settings.model.layer} {version}")
    state.save(gw, bucket, ended)
    return ShadowChangeResult("promote", ended, relink=relinked)


def _promote_by_rollout(gw, settings, request, shadow, version, rollback, confirm, now):
    from mlayer.rollout.publishing import publish_with_rollout
    from mlayer.shadow.promote_rollout import relink_step, rollout_request

    alias = request.alias or settings.model.alias or None
    started = publish_with_rollout(
        gw,
        settings,
        rollout_request(request, alias),
        publish=relink_step(shadow, version, rollback),
        confirm=confirm,
    )
    if request.dry_run:
        return ShadowChangeResult("promote", shadow, dry_run=True, relink=started)
    rollout = started.state
    note = f"rolled out as {settings.model.layer} {version}" + (
        f" ({rollout.status})" if rollout else ""
    )
    ended = shadow.ended(state.PROMOTED, now(), note)
    state.save(gw, settings.artifacts.bucket, ended)
    return ShadowChangeResult("promote", ended, relink=started)
