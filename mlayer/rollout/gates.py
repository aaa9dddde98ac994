"""The judgement of one step (pure): the new version's health against the old one's, over the
same window, gate by gate. A gate fails only when the difference is past its threshold AND
past what chance gives for the records seen (stats.EVIDENCE_Z), so an identical model passes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlayer.rollout import stats

GATES = ("traffic", "errors", "dead_letters", "latency", "prediction_shift")


@dataclass(frozen=True)
class Thresholds:
    """The [rollout] thresholds (docs/FORMATS.md names each key)."""

    min_records: int = 100  # records each version must predict in a step before a gate passes
    max_extensions: int = 3  # a step short of records is watched again this often, then fails
    max_error_increase: float = 0.01  # new error rate - old, per invocation
    max_dead_letter_increase: float = 0.05  # new dead-letter share - old, per record
    max_latency_ratio: float = 1.5  # new p99 Duration / old p99
    latency_slack_ms: float = 25.0  # and at least this much slower, in ms
    max_psi: float = 0.2  # population stability index of the predictions

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Health:
    """One version's readings over a step's window."""

    invocations: float = 0.0
    errors: float = 0.0
    records: float = 0.0  # records the version predicted
    dead_letters: float = 0.0
    p99_ms: float = 0.0
    latency_stat: str = "p99"  # what p99_ms holds: "Average" where the endpoint has no p99
    predictions: Mapping[str, float] = field(default_factory=dict)  # class -> count
    bins: Mapping[str, float] = field(default_factory=dict)  # a regressor's value bin -> count

    @property
    def error_rate(self) -> float:
        return self.errors / self.invocations if self.invocations else 0.0

    @property
    def dead_letter_share(self) -> float:
        seen = self.records + self.dead_letters
        return self.dead_letters / seen if seen else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "predictions": dict(self.predictions), "bins": dict(self.bins)}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Health:
        known = {k: doc[k] for k in cls.__dataclass_fields__ if k in doc}
        known["predictions"] = dict(known.get("predictions", {}))
        known["bins"] = dict(known.get("bins", {}))
        return cls(**known)


@dataclass(frozen=True)
class Reading:
    """One gate's judgement: both versions' values and the threshold it was held to."""

    gate: str
    passed: bool
    new: float
    old: float
    threshold: float
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Reading:
        return cls(**{k: doc[k] for k in cls.__dataclass_fields__ if k in doc})


@dataclass(frozen=True)
class Verdict:
    """pass: raise the weight; wait: not enough traffic yet (watch again); fail: roll back."""

    outcome: str  # "pass" | "wait" | "fail"
    readings: tuple[Reading, ...]

    @property
    def failed(self) -> Reading | None:
        """The gate that decided a fail or a wait: a failed gate before a short traffic."""
        failing = [r for r in self.readings if not r.passed]
        return next((r for r in failing if r.gate != "traffic"), failing[0] if failing else None)


def judge(new: Health, old: Health, t: Thresholds, extensions_used: int = 0) -> Verdict:
    """The step's verdict. A gate that fails with evidence fails at once, whatever the traffic
    (a model raising on every batch predicts nothing); a pass needs enough traffic (never
    promote blind); latency, a percentile with no noise bound, is judged only then."""
    traffic = _traffic(new, old, t)
    evidence = (_errors(new, old, t), _dead_letters(new, old, t), _prediction_shift(new, old, t))
    if any(not r.passed for r in evidence):
        return Verdict("fail", (traffic, *evidence))
    if not traffic.passed:
        outcome = "fail" if extensions_used >= t.max_extensions else "wait"
        return Verdict(outcome, (traffic, *evidence))
    readings = (traffic, *evidence[:2], _latency(new, old, t), evidence[2])
    return Verdict("pass" if all(r.passed for r in readings) else "fail", readings)


def _traffic(new: Health, old: Health, t: Thresholds) -> Reading:
    """Records each version handled (predicted or dead-lettered) against min_records."""
    seen_new, seen_old = new.records + new.dead_letters, old.records + old.dead_letters
    short = "new" if seen_new < t.min_records else "old" if seen_old < t.min_records else ""
    detail = f"not enough traffic: the {short} version handled too few records" if short else ""
    return Reading("traffic", not short, seen_new, seen_old, t.min_records, detail)


def _errors(new: Health, old: Health, t: Thresholds) -> Reading:
    bound = stats.excess_lower_bound(new.errors, new.invocations, old.errors, old.invocations)
    passed = not (new.error_rate - old.error_rate > t.max_error_increase and bound > 0)
    return Reading("errors", passed, new.error_rate, old.error_rate, t.max_error_increase)


def _dead_letters(new: Health, old: Health, t: Thresholds) -> Reading:
    seen_new, seen_old = new.records + new.dead_letters, old.records + old.dead_letters
    bound = stats.excess_lower_bound(new.dead_letters, seen_new, old.dead_letters, seen_old)
    excess = new.dead_letter_share - old.dead_letter_share
    passed = not (excess > t.max_dead_letter_increase and bound > 0)
    return Reading(
        "dead_letters",
        passed,
        new.dead_letter_share,
        old.dead_letter_share,
        t.max_dead_letter_increase,
    )


def _latency(new: Health, old: Health, t: Thresholds) -> Reading:
    ratio = new.p99_ms / old.p99_ms if old.p99_ms > 0 else 1.0
    slower = new.p99_ms - old.p99_ms
    passed = not (ratio > t.max_latency_ratio and slower > t.latency_slack_ms)
    stat = new.latency_stat
    detail = f"{stat} Duration {new.p99_ms:.1f} ms vs {old.p99_ms:.1f} ms ({ratio:.2f}x)"
    return Reading("latency", passed, new.p99_ms, old.p99_ms, t.max_latency_ratio, detail)


def _prediction_shift(new: Health, old: Health, t: Thresholds) -> Reading:
    """PSI over a classifier's classes, or over a regressor's value groups (stats.group_bins)."""
    old_counts, new_counts, over, estimated = old.predictions, new.predictions, "", 0
    if not (old_counts or new_counts) and (old.bins or new.bins):
        old_counts, new_counts = stats.group_bins(old.bins, new.bins)
        over = f" over {len(set(old_counts) | set(new_counts))} value groups"
        estimated = 1  # the groups' edges come from the old sample: one more degree of freedom
    value = stats.psi(old_counts, new_counts, smoothing=0.5)
    classes = len(set(old_counts) | set(new_counts)) + estimated
    n_old, n_new = sum(old_counts.values()), sum(new_counts.values())
    noise = stats.psi_noise_bound(classes, n_old, n_new)
    passed = not (value > t.max_psi and value > noise)
    detail = f"PSI {value:.3f}{over} (chance alone stays under {noise:.3f})"
    return Reading("prediction_shift", passed, value, 0.0, t.max_psi, detail)
