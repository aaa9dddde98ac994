"""The result of rollback: ``to_dict`` is its --json contract, ``render`` its text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlayer.publishing.models import RelinkOutcome, RelinkPlan
from mlayer.results.relinking import moved_alias, outcome_fields, plan_lines, would_move_alias


@dataclass(frozen=True)
class RollbackResult:
    """What rollback did. ``to_dict`` is the ``--json`` contract (docs/FORMATS.md)."""

    function: str
    layer_name: str
    from_version: int | None
    to_version: int
    label: str
    plan: RelinkPlan
    dry_run: bool
    noop: bool
    outcome: RelinkOutcome | None = None
    alias: str | None = None
    alias_version: int | None = None  # model-layer version on the alias before the rollback
    warnings: tuple[str, ...] = ()
    store: str = "layer"  # where the target version's artifacts live (model_store.placement)
    ephemeral_mb: int | None = None  # EphemeralStorage set (or to set) on the function
    alias_reuse: str | None = None  # dry run: the existing function version the alias would take

    @property
    def reused_version(self) -> str | None:
        """The existing function version the alias goes (or would go) to; None: one is published."""
        if self.outcome is not None:
            return self.outcome.function_version if self.outcome.reused_version else None
        return self.alias_reuse

    @property
    def relinked(self) -> bool:
        return bool(self.outcome and self.plan.changed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "layer_name": self.layer_name,
            "layer_version_arn": self.plan.new_arn,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "label": self.label,
            "noop": self.noop,
            "dry_run": self.dry_run,
            "relinked": self.relinked,
            "plan": self.plan.to_dict(),
            **outcome_fields(self.outcome),
            "alias": self.alias,
            "alias_from_version": self.alias_version,
            "warnings": list(self.warnings),
            "store": self.store,
            "ephemeral_storage": self.ephemeral_mb,
            "alias_reuses_version": self.reused_version,
        }

    def render(self) -> str:
        lines: list[str] = []  # warnings go to stderr (cli.App.emit)
        if self.noop:
            where = f"{self.function}" + (f" and on alias {self.alias}" if self.alias else "")
            return "\n".join(
                [
                    *lines,
                    f"Version {self.to_version} ({self.label}) is already live on {where}; nothing to do.",
                ]
            )
        verb = (
            "Roll forward"
            if self.from_version is not None and self.to_version > self.from_version
            else "Roll back"
        )
        if self.plan.changed:
            lines.append(
                f"{verb} {self.function}: model layer version {self.from_version} -> {self.to_version} ({self.label})."
            )
            lines += plan_lines(self.plan)
            if self.store != "layer":
                lines.append(
                    f"  Its artifacts live in {self.store.upper()}: downloaded at cold start."
                )
        else:
            lines.append(
                f"Version {self.to_version} ({self.label}) is already live on {self.function}; "
                + (
                    f"alias {self.alias} is on version {self.alias_version}: moving it."
                    if self.alias_version
                    else f"alias {self.alias} does not point at it yet: moving it."
                )
            )
        if self.ephemeral_mb:
            lines.append(
                f"  /tmp (EphemeralStorage) -> {self.ephemeral_mb} MB to hold its artifacts."
            )
        if self.dry_run and self.alias:
            lines.append(would_move_alias(self.alias, self.alias_reuse))
        lines.append("Dry run: nothing was changed." if self.dry_run else "Done.")
        if self.outcome and self.outcome.alias:
            lines.append(moved_alias(self.outcome))
        return "\n".join(lines)
