"""The rollout's state file, `rollouts/<function>/<alias>.json` in the artifact bucket (pure).

It is what survives the CLI: `rollout status|resume|abort` and `mlayer status` read it, each
step's write names the weight the alias holds, so a killed CLI leaves a rollout resumable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from mlayer.errors import MlayerError
from mlayer.rollout.gates import Health, Reading, Thresholds

SCHEMA_VERSION = 1
ACTIVE = "running"
FINISHED = ("promoted", "rolled_back", "aborted", "stopped")


def state_key(function: str, alias: str) -> str:
    return f"rollouts/{function}/{alias}.json"


class CorruptStateError(MlayerError):
    """A rollout state file mlayer cannot read: named, with the way to clear it."""

    def __init__(self, where: str, alias: str, problem: str) -> None:
        super().__init__(
            f"The rollout state {where} is corrupt: {problem}.",
            f"`mlayer rollout abort --alias {alias}` deletes it (the alias's weights stay as "
            "they are: `mlayer status` shows them, `mlayer rollback` sets them).",
        )


def parse_state(doc: object, where: str, alias: str) -> RolloutState:
    """``RolloutState.from_dict`` whose failures name the file and the key, not a KeyError."""
    if not isinstance(doc, Mapping):
        raise CorruptStateError(where, alias, f"not a JSON object but {type(doc).__name__}")
    try:
        return RolloutState.from_dict(doc)
    except KeyError as exc:
        raise CorruptStateError(where, alias, f"no {exc.args[0]!r} key") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise CorruptStateError(where, alias, f"a value of the wrong kind ({exc})") from None


@dataclass(frozen=True)
class StepRecord:
    """One judged window: the weight, the window, both versions' health and the verdict."""

    step: int
    weight: float
    window_start: float
    window_end: float
    outcome: str  # pass | wait | fail
    new: Health
    old: Health
    readings: tuple[Reading, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "weight": self.weight,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "outcome": self.outcome,
            "new": self.new.to_dict(),
            "old": self.old.to_dict(),
            "readings": [r.to_dict() for r in self.readings],
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> StepRecord:
        return cls(
            step=int(doc["step"]),
            weight=float(doc["weight"]),
            window_start=float(doc["window_start"]),
            window_end=float(doc["window_end"]),
            outcome=str(doc["outcome"]),
            new=Health.from_dict(doc["new"]),
            old=Health.from_dict(doc["old"]),
            readings=tuple(Reading.from_dict(r) for r in doc.get("readings", ())),
        )


@dataclass(frozen=True)
class RolloutState:
    """Where a rollout stands. ``step`` indexes ``weights``; len(weights) means promotion."""

    function: str
    alias: str
    strategy: str
    old_version: str
    new_version: str
    weights: tuple[float, ...]
    interval_s: float
    thresholds: Thresholds
    started_at: float
    updated_at: float
    step: int = 0
    step_started_at: float = 0.0
    extensions: int = 0
    status: str = ACTIVE
    reason: str = ""
    old_model_version: str = ""
    new_model_version: str = ""
    classes: tuple[str, ...] = ()  # the classifier's classes: the prediction-shift gate's bins
    history: tuple[StepRecord, ...] = field(default_factory=tuple)

    @property
    def key(self) -> str:
        return state_key(self.function, self.alias)

    @property
    def active(self) -> bool:
        return self.status == ACTIVE

    @property
    def weight(self) -> float:
        """The new version's weight the alias holds now (1.0 once promoted, 0 once reverted)."""
        if self.status == "promoted":
            return 1.0
        if self.status != ACTIVE:
            return 0.0
        return self.weights[self.step] if self.step < len(self.weights) else 1.0

    def advanced(self, record: StepRecord, now: float) -> RolloutState:
        """After a passed step: the next weight (or the promotion), its clock restarted."""
        return replace(
            self,
            step=self.step + 1,
            extensions=0,
            step_started_at=now,
            updated_at=now,
            history=(*self.history, record),
        )

    def extended(self, record: StepRecord, now: float) -> RolloutState:
        """After a step short of traffic: the same weight watched longer (its window still
        starts when the weight was set; the next judgement waits from ``updated_at``)."""
        return replace(
            self, extensions=self.extensions + 1, updated_at=now, history=(*self.history, record)
        )

    def finished(
        self, status: str, reason: str, now: float, record: StepRecord | None = None
    ) -> RolloutState:
        """Promoted, rolled back, aborted or stopped: the file stays as the rollout's record."""
        history = (*self.history, record) if record else self.history
        return replace(self, status=status, reason=reason, updated_at=now, history=history)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "function": self.function,
            "alias": self.alias,
            "strategy": self.strategy,
            "status": self.status,
            "reason": self.reason,
            "old_version": self.old_version,
            "new_version": self.new_version,
            "old_model_version": self.old_model_version,
            "new_model_version": self.new_model_version,
            "classes": list(self.classes),
            "weights": list(self.weights),
            "step": self.step,
            "weight": self.weight,
            "extensions": self.extensions,
            "interval_s": self.interval_s,
            "thresholds": self.thresholds.to_dict(),
            "started_at": self.started_at,
            "step_started_at": self.step_started_at,
            "updated_at": self.updated_at,
            "history": [h.to_dict() for h in self.history],
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> RolloutState:
        if doc.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(f"unknown rollout state schema {doc.get('schema_version')!r}")
        return cls(
            function=str(doc["function"]),
            alias=str(doc["alias"]),
            strategy=str(doc["strategy"]),
            old_version=str(doc["old_version"]),
            new_version=str(doc["new_version"]),
            weights=tuple(float(w) for w in doc["weights"]),
            interval_s=float(doc["interval_s"]),
            thresholds=Thresholds(**doc["thresholds"]),
            started_at=float(doc["started_at"]),
            updated_at=float(doc["updated_at"]),
            step=int(doc["step"]),
            step_started_at=float(doc["step_started_at"]),
            extensions=int(doc["extensions"]),
            status=str(doc["status"]),
            reason=str(doc.get("reason", "")),
            old_model_version=str(doc.get("old_model_version", "")),
            new_model_version=str(doc.get("new_model_version", "")),
            classes=tuple(str(c) for c in doc.get("classes", ())),
            history=tuple(StepRecord.from_dict(h) for h in doc.get("history", ())),
        )
