"""[rollout] (with MLAYER_ROLLOUT_* and the flags already applied) -> a checked RolloutConfig.

The config loader keeps float keys given in the environment as text; they are read here, once,
with the key named when a value is impossible.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlayer.errors import ConfigError
from mlayer.rollout.gates import Thresholds
from mlayer.rollout.plan import parse_duration, step_weights

_FLOATS = (
    "max_error_increase",
    "max_dead_letter_increase",
    "max_latency_ratio",
    "latency_slack_ms",
    "max_psi",
)


@dataclass(frozen=True)
class RolloutConfig:
    strategy: str
    percent: float
    interval_s: float
    metric_period_s: float
    weights: tuple[float, ...]
    thresholds: Thresholds


def _number(section: Any, key: str, value: Any) -> float:
    try:
        number = float(str(value).strip()) if not isinstance(value, (int, float)) else value
    except ValueError:
        number = -1.0
    if isinstance(number, bool) or not number >= 0:
        raise ConfigError(
            f"[rollout] {key} is {value!r}; it must be a number of at least 0.",
            f"Set [rollout] {key} in mlayer.toml or MLAYER_ROLLOUT_{key.upper()}.",
        )
    return float(number)


def rollout_config(
    section: Any,
    strategy: str | None = None,
    percent: float | None = None,
    interval: str | None = None,
) -> RolloutConfig:
    """The rollout as asked: flags over [rollout] (itself over its defaults)."""
    strategy = strategy or section.strategy
    percent = _number(section, "percent", section.percent if percent is None else percent)
    weights = step_weights(strategy, percent)
    thresholds = Thresholds(
        min_records=int(section.min_records),
        max_extensions=int(section.max_extensions),
        **{k: _number(section, k, getattr(section, k)) for k in _FLOATS},
    )
    if thresholds.min_records < 1 or thresholds.max_extensions < 0:
        raise ConfigError(
            "[rollout] min_records must be at least 1 and max_extensions at least 0.",
            "A rollout never promotes without evidence: give it a number of records to see.",
        )
    return RolloutConfig(
        strategy=strategy,
        percent=percent,
        interval_s=parse_duration(interval or section.interval),
        metric_period_s=parse_duration(section.metric_period),
        weights=weights,
        thresholds=thresholds,
    )
