"""`mlayer rollout status|resume|abort`: read, continue or revert the alias's rollout."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlayer.errors import UsageError
from mlayer.results.rollout import RolloutStatusResult
from mlayer.rollout.health import HealthReader
from mlayer.rollout.publishing import rollouts_for
from mlayer.rollout.settings import rollout_config
from mlayer.rollout.state import CorruptStateError

ACTIONS = ("status", "resume", "abort")


def rollout_command(
    gw: Any, settings: Any, request: Any, *, progress: Callable[[str], None]
) -> RolloutStatusResult:
    function, alias = settings.function.name, request.alias or settings.model.alias
    if not alias:
        raise UsageError(
            "A rollout lives on an alias; none is set.", "Set [model] alias or pass --alias."
        )
    rollouts = rollouts_for(gw, settings, progress=progress)
    try:
        state = rollouts.load(function, alias)
    except CorruptStateError:
        if request.action != "abort":
            raise
        progress(f"Deleted the unreadable rollout state {rollouts.clear_corrupt(function, alias)}")
        return RolloutStatusResult(function, alias, None)
    if request.action == "status" or state is None:
        if state is None and request.action != "status":
            raise UsageError(
                f"No rollout recorded for {function}:{alias}.",
                "Start one with `mlayer publish-model … --rollout canary`.",
            )
        return RolloutStatusResult(function, alias, state)
    if request.action == "abort":
        return RolloutStatusResult(
            function, alias, rollouts.abort(state, "aborted by `mlayer rollout abort`")
        )
    config = rollout_config(settings.rollout)
    reader = HealthReader(gw, function, alias, state.classes, config.metric_period_s)
    return RolloutStatusResult(function, alias, rollouts.drive(state, reader))


def status_rollout(gw: Any, settings: Any, alias: str | None) -> tuple[dict[str, Any] | None, str]:
    """`mlayer status`'s view of a rollout running on ``alias`` (docs/FORMATS.md, status's
    `rollout` key), None when none runs; and a warning when its state file is unreadable."""
    if not alias or not settings.artifacts.bucket:
        return None, ""
    try:
        state = rollouts_for(gw, settings).load(settings.function.name, alias)
    except CorruptStateError as exc:  # status still shows the rest
        return None, f"{exc.message} {exc.hint}"
    if state is None or not state.active:
        return None, ""
    return {
        "alias": alias,
        "strategy": state.strategy,
        "status": state.status,
        "old_version": state.old_version,
        "new_version": state.new_version,
        "old_model_version": state.old_model_version,
        "new_model_version": state.new_model_version,
        "step": state.step,
        "steps": len(state.weights),
        "weights": list(state.weights),
        "weight": state.weight,
        "extensions": state.extensions,
        "started_at": state.started_at,
        "step_started_at": state.step_started_at,
    }, ""


def running_rollout(gw: Any, settings: Any, alias: str | None) -> str | None:
    """What `mlayer rollback` will do to a rollout running on ``alias`` (read only), or None."""
    if not alias:
        return None
    state = rollouts_for(gw, settings).load(settings.function.name, alias)
    if state is None or not state.active:
        return None
    return (
        f"The rollout of version {state.new_version} on {alias} (at {state.weight:.0%}) is "
        "aborted: the rollback takes the alias's weights away."
    )


def abort_for_rollback(gw: Any, settings: Any, alias: str | None) -> None:
    """`mlayer rollback` during a rollout: abort it first (all traffic back on the old
    version), then the rollback moves the alias where it was asked to."""
    if not alias:
        return
    rollouts = rollouts_for(gw, settings)
    state = rollouts.load(settings.function.name, alias)
    if state is not None and state.active:
        rollouts.abort(state, "aborted by `mlayer rollback`")
