"""publish-model --rollout canary|linear: publish and relink $LATEST as usual, take the function
version it makes, then move the alias by steps (driver.py) instead of in one go.

Everything that can refuse does so before the first write (exit 2, nothing published): no
[model] alias, a rollout already running on it, weights someone else set, provisioned
concurrency in the settings or on the alias (AWS refuses it on an alias with weights), an
impossible [rollout] value.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

from mlayer.errors import UsageError
from mlayer.gateway.concurrency import alias_provisioned_concurrency
from mlayer.gateway.routing import AliasRouting, read_routing
from mlayer.publishing.relink import Relinker
from mlayer.results.rollout import RolloutResult
from mlayer.rollout.driver import Rollouts
from mlayer.rollout.health import HealthReader
from mlayer.rollout.settings import RolloutConfig, rollout_config


def rollouts_for(gw: Any, settings: Any, **kw: Any) -> Rollouts:
    config = rollout_config(settings.rollout)
    return Rollouts(gw, settings.artifacts.bucket, metric_period_s=config.metric_period_s, **kw)


def publish_with_rollout(
    gw: Any,
    settings: Any,
    request: Any,
    *,
    publish: Callable[..., Any],
    confirm: Callable[[str], None],
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    progress: Callable[[str], None] = lambda _line: None,
) -> RolloutResult:
    """The whole command; ``publish`` is publish.publish_model (called with no alias)."""
    config = rollout_config(settings.rollout, request.rollout, request.percent, request.interval)
    function, alias = settings.function.name, request.alias or settings.model.alias
    _refuse_settings(config.strategy, function, alias, settings)
    rollouts = rollouts_for(gw, settings, clock=clock, sleep=sleep, progress=progress)
    _refuse_running(rollouts, function, alias)
    current = _alias_routing(gw, function, alias)
    unaliased = dataclasses.replace(settings, model=dataclasses.replace(settings.model, alias=""))
    published = publish(gw, unaliased, dataclasses.replace(request, alias=None), confirm=confirm)
    if getattr(request, "dry_run", False):
        return RolloutResult(publish=published, state=None, note="dry run: nothing rolled out")
    if not request.link:
        return RolloutResult(publish=published, state=None, note="--no-link: nothing relinked")
    return _roll_out(gw, rollouts, config, request, published, current, function, alias)


def _refuse_settings(strategy: str, function: str, alias: str, settings: Any) -> None:
    """What the settings alone refuse: no alias to move, or provisioned concurrency asked for."""
    if not alias:
        raise UsageError(
            f"A {strategy} rollout moves an alias's traffic by steps; none is set.",
            "Set [model] alias in mlayer.toml (or pass --alias); nothing was published.",
        )
    if settings.function.provisioned_concurrency:
        raise UsageError(
            f"{function}:{alias} has provisioned concurrency, and AWS refuses it on an alias "
            "with weights (Alias with weights can not be used with Provisioned Concurrency).",
            "Set [function] provisioned_concurrency = 0 for the rollout (or publish with "
            "--rollout all-at-once); nothing was published.",
        )


def _refuse_running(rollouts: Rollouts, function: str, alias: str) -> None:
    """One rollout per alias: a second would fight the first over the weights."""
    running = rollouts.load(function, alias)
    if running is not None and running.active:
        raise UsageError(
            f"A rollout of {function}:{alias} is running (version {running.new_version} at "
            f"{running.weight:.0%}); nothing was published.",
            "Finish it first: `mlayer rollout resume` or `mlayer rollout abort`.",
        )


def _alias_routing(gw: Any, function: str, alias: str) -> AliasRouting | None:
    """The alias's routing (None: no alias yet), refused when AWS would refuse weights on it
    (provisioned concurrency) or when someone else's weights split it already."""
    current = read_routing(gw, function, alias)
    provisioned = alias_provisioned_concurrency(gw, function, alias) if current else 0
    if provisioned:
        raise UsageError(
            f"{function}:{alias} has {provisioned} provisioned concurrent executions, and AWS "
            "refuses weights on such an alias (Alias with weights can not be used with "
            "Provisioned Concurrency); nothing was published.",
            "Remove it for the rollout (`aws lambda delete-provisioned-concurrency-config "
            f"--function-name {function} --qualifier {alias}`), or publish with --rollout "
            "all-at-once.",
        )
    if current is not None and current.weights:
        raise UsageError(
            f"Alias {alias} of {function} already splits its traffic ({dict(current.weights)}), "
            "not set by an mlayer rollout; nothing was published.",
            "Empty its RoutingConfig first (e.g. `mlayer rollback --previous`).",
        )
    return current


def _roll_out(
    gw: Any,
    rollouts: Rollouts,
    config: RolloutConfig,
    request: Any,
    published: Any,
    current: AliasRouting | None,
    function: str,
    alias: str,
) -> RolloutResult:
    """The version the relink made, then the alias: created on it, or moved by steps (and,
    with ``--wait``, driven to the end)."""
    relinker = Relinker(gw)
    version, _reused = relinker.version_for(function, relinker.wait_updatable(function))
    if current is None:  # the alias's first version: nothing to compare it with
        gw.create_alias(function, alias, version)
        note = f"alias {alias} created on version {version}, with nothing to compare it with"
        return RolloutResult(publish=published, state=None, note=note)
    if version == current.version:
        return RolloutResult(publish=published, state=None, note="the alias already has it")
    state = rollouts.start(
        current,
        version,
        strategy=config.strategy,
        percent=config.percent,
        interval_s=config.interval_s,
        thresholds=config.thresholds,
        models=("", str(getattr(published, "label", "") or "")),
        classes=classes_of(published),
    )
    if request.wait:
        reader = HealthReader(gw, function, alias, state.classes, config.metric_period_s)
        state = rollouts.drive(state, reader)
    return RolloutResult(publish=published, state=state)


def classes_of(published: Any) -> tuple[str, ...]:
    """The classifier's classes from the published manifest (none for a regressor)."""
    manifest = getattr(published, "manifest", None) or {}
    outputs = manifest.get("outputs") or {}
    return tuple(str(c) for c in outputs.get("classes") or ())
