"""Rendering shared by the results of publish-model and rollback: the relink plan, the outcome."""

from __future__ import annotations

from typing import Any

from mlayer.publishing.models import RelinkOutcome, RelinkPlan
from mlayer.results.report import human_bytes


def would_move_alias(alias: str, reuse: str | None = None) -> str:
    if reuse:
        return (
            f"Would move alias {alias} to function version {reuse}, which already carries this "
            "model: nothing published (no new snapshot)."
        )
    return f"Would publish a function version and move alias {alias} to it."


def moved_alias(outcome: RelinkOutcome) -> str:
    if outcome.reused_version:
        return (
            f"Alias {outcome.alias} -> function version {outcome.function_version}, which already "
            "carried this model: no version published (no new snapshot)."
        )
    return f"Alias {outcome.alias} -> function version {outcome.function_version}."


def plan_lines(plan: RelinkPlan | None) -> list[str]:
    if plan is None:
        return []
    if not plan.changed:
        return [f"{plan.function}: {plan.new_arn} is already live; nothing to relink."]
    approx = "" if plan.sizes_exact else " (at least; some sizes are zipped sizes)"
    if plan.unknown_sizes:
        approx = f" (at least: {len(plan.unknown_sizes)} layer(s) of unknown size not counted)"
    return [
        f"Relink {plan.function}:",
        f"  {plan.old_arn or '(no model layer)'}",
        f"  -> {plan.new_arn}",
        f"  layers: {len(plan.after)}/{plan.max_layers}, unzipped {human_bytes(plan.total_unzipped)}{approx}, "
        f"budget left {human_bytes(plan.budget_left)}",
    ]


def outcome_fields(outcome: RelinkOutcome | None) -> dict[str, Any]:
    return {
        "alias": outcome.alias if outcome else None,
        "function_version": outcome.function_version if outcome else None,
        "outcome": None
        if outcome is None
        else {
            "revision_id": outcome.revision_id,
            "attempts": outcome.attempts,
            "function_version": outcome.function_version,
            "alias": outcome.alias,
            "reused_version": outcome.reused_version,
        },
    }
