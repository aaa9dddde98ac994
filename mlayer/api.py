"""Orchestration: one function per command. Returns result objects; never prints.

Each function takes Settings (and the command's own arguments), wires the side effects
(Gateway, builders, clock) and delegates decisions to pure modules (planner, manifest, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlayer.config import Settings, render_toml
from mlayer.errors import NotBuiltError, UsageError


def not_built(command: str, issue: int) -> NotBuiltError:
    return NotBuiltError(
        f"`mlayer {command}` is not built in this release yet.",
        f"Follow issue {issue} of the mlayer tracker; the rest of the CLI works.",
    )


@dataclass(frozen=True)
class InitResult:
    path: Path
    overwritten: bool
    settings: dict

    def render(self) -> str:
        verb = "Overwrote" if self.overwritten else "Wrote"
        return (
            f"{verb} {self.path}.\n"
            "Next: `mlayer build-deps --publish`, then `mlayer deploy-function`, "
            "then `mlayer publish-model MODEL -p PREPROCESSOR ...`."
        )


def init_config(path: str | Path, *, force: bool = False, **sections: dict[str, Any]) -> InitResult:
    """Write a commented mlayer.toml from flags over defaults; refuse to overwrite unless forced."""
    target = Path(path)
    existed = target.exists()
    if existed and not force:
        raise UsageError(
            f"{target} already exists.", "Pass --force to overwrite it, or edit it by hand."
        )
    settings = Settings(source="command-line flag").with_overrides(**sections)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_toml(settings), encoding="utf-8")
    return InitResult(path=target, overwritten=existed, settings=settings.to_dict())
