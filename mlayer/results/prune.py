"""The result of prune: ``to_dict`` is its --json contract (the plan and the outcome), ``render``
its text: what goes, what stays and why, and the bytes freed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlayer.prune.verdicts import Item, PrunePlan
from mlayer.results.report import human_bytes, short, table

if TYPE_CHECKING:
    from mlayer.prune.apply import PruneOutcome

_KIND = {
    "function_version": "function version",
    "model_layer_version": "model layer version",
    "deps_layer_version": "deps layer version",
    "object": "object",
}


def plan_dict(plan: PrunePlan) -> dict[str, Any]:
    return {
        "function": plan.function,
        "model_layer": plan.model_layer,
        "deps_layer": plan.deps_layer,
        "keep": plan.keep,
        "older_than_days": plan.older_than_days,
        "cutoff": plan.cutoff.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "deps": plan.deps,
        "goes": {
            "function_versions": [i.to_dict() for i in plan.function_versions],
            "model_layer_versions": [i.to_dict() for i in plan.model_versions],
            "deps_layer_versions": [i.to_dict() for i in plan.deps_versions],
            "objects": [i.to_dict() for i in plan.objects],
        },
        "kept": [i.to_dict() for i in plan.kept],
        "bytes_freed": plan.bytes_freed,
    }


def plan_text(plan: PrunePlan) -> str:
    """The plan as a user reads it before saying yes."""
    head = (
        f"Prune {plan.function} (keeping the newest {plan.keep} and anything younger than "
        f"{plan.older_than_days} days{', dependencies layer too' if plan.deps else ''}):"
    )
    lines = [head]
    if plan.goes:
        rows = [[_KIND[i.kind], short(i.name), human_bytes(i.size)] for i in plan.goes]
        lines += [
            f"Goes ({len(plan.goes)} items, {human_bytes(plan.bytes_freed)}):",
            table(["what", "name", "bytes"], rows),
        ]
    else:
        lines.append("Nothing goes.")
    if plan.kept:
        rows = [
            [_KIND[i.kind], short(i.name), "; ".join(r.text for r in i.reasons)] for i in plan.kept
        ]
        lines += [f"Stays ({len(plan.kept)}):", table(["what", "name", "why"], rows)]
    return "\n".join(lines)


@dataclass(frozen=True)
class PruneResult:
    plan: PrunePlan
    dry_run: bool
    outcome: PruneOutcome | None = None
    warnings: tuple[str, ...] = ()

    @property
    def deleted(self) -> tuple[Item, ...]:
        return tuple(self.outcome.deleted) if self.outcome else ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "plan": plan_dict(self.plan),
            "dry_run": self.dry_run,
            "outcome": self.outcome.to_dict() if self.outcome else None,
            "warnings": list(self.warnings),
        }

    def render(self) -> str:
        lines = [plan_text(self.plan)]
        if self.dry_run:
            lines.append("Dry run: nothing was deleted.")
        elif self.outcome is not None:
            lines.append(
                f"Deleted {len(self.outcome.deleted)} items, freed "
                f"{human_bytes(self.outcome.bytes_freed)}."
            )
            lines += [
                f"Left {_KIND[i.kind]} {i.name}: {why}. Run `mlayer prune` again to finish."
                for i, why in self.outcome.skipped
            ]
        return "\n".join(lines)
