"""The results of publish-model --rollout and `mlayer rollout`: ``to_dict`` is the --json
contract (docs/FORMATS.md), ``render`` the text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlayer.rollout.state import RolloutState


def state_lines(state: RolloutState) -> list[str]:
    lines = [
        f"Rollout of {state.function}:{state.alias} ({state.strategy}): {state.status}"
        + (f" ({state.reason})" if state.reason else ""),
        f"  split: version {state.old_version} {1 - state.weight:.0%}, "
        f"version {state.new_version} {state.weight:.0%}",
    ]
    for h in state.history:
        lines.append(f"  step {h.step + 1} at {h.weight:.0%}: {h.outcome}")
        lines += [
            f"    {r.gate}: new {r.new:.4g}, old {r.old:.4g}, threshold {r.threshold:g}"
            + (f" ({r.detail})" if r.detail else "")
            + ("" if r.passed else "  FAILED")
            for r in h.readings
        ]
    return lines


@dataclass(frozen=True)
class RolloutResult:
    """publish-model --rollout: what was published, then where the rollout stands."""

    publish: Any
    state: RolloutState | None
    note: str = ""

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(getattr(self.publish, "warnings", ()) or ())

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.publish.to_dict(),
            "rollout": self.state.to_dict() if self.state else None,
            "rollout_note": self.note,
        }

    def render(self) -> str:
        text = self.publish.render()
        more = state_lines(self.state) if self.state else [f"No rollout: {self.note}."]
        return "\n".join([text, *more])


@dataclass(frozen=True)
class RolloutStatusResult:
    """`mlayer rollout status|resume|abort`."""

    function: str
    alias: str
    state: RolloutState | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "alias": self.alias,
            "rollout": self.state.to_dict() if self.state else None,
        }

    def render(self) -> str:
        if self.state is None:
            return f"No rollout recorded for {self.function}:{self.alias}."
        return "\n".join(state_lines(self.state))
