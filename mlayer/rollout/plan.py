"""The steps of a rollout: the new version's weight at each watched step (pure).

canary P sends P% and, once judged healthy, 100%; linear P adds P% per step; all-at-once moves
the alias in one relink (no watched step). 100% is never a watched step: it is the promotion.
"""

from __future__ import annotations

import re

from mlayer.errors import ConfigError

STRATEGIES = ("all-at-once", "canary", "linear")
METRIC_PERIOD_S = 60  # Lambda's metrics are per minute, stamped at the invocation's start
MAX_STEPS = 100

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text: str | float | int) -> float:
    """'5m', '30s', '1h', '250ms' or a number of seconds -> seconds (positive)."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text)
    else:
        match = _DURATION.match(str(text))
        if not match:
            raise ConfigError(
                f"Invalid rollout interval {text!r}.",
                "Give a duration such as 30s, 5m or 1h (a bare number is seconds).",
            )
        seconds = float(match.group(1)) * _UNIT_S[match.group(2)]
    if seconds <= 0:
        raise ConfigError(
            f"Invalid rollout interval {text!r}: it must be longer than zero.",
            "Give a duration such as 30s, 5m or 1h.",
        )
    return seconds


def step_weights(strategy: str, percent: float) -> tuple[float, ...]:
    """The new version's weight (0..1) at each watched step, in order; the promotion follows."""
    if strategy not in STRATEGIES:
        raise ConfigError(
            f"Unknown rollout strategy {strategy!r}.", f"Use one of: {', '.join(STRATEGIES)}."
        )
    if strategy == "all-at-once":
        return ()
    if not 0 < percent < 100:
        raise ConfigError(
            f"Invalid rollout percent {percent!r}: a {strategy} rollout needs 0 < P < 100.",
            "Give e.g. --percent 10 (the share of traffic the new version gets first).",
        )
    if strategy == "canary":
        return (round(percent / 100, 6),)
    count = int(-(-100 // percent))  # ceil(100 / P): the last step is 100%
    if count - 1 > MAX_STEPS:
        raise ConfigError(
            f"A linear rollout of {percent}% per step would take {count} steps.",
            f"Give a percent of at least {100 / (MAX_STEPS + 1):.2f}.",
        )
    weights = [round(percent * i / 100, 6) for i in range(1, count)]
    return tuple(w for w in weights if w < 1.0)


def step_wait_s(interval_s: float, metric_period_s: float = METRIC_PERIOD_S) -> float:
    """How long a step is watched: its interval plus one metric period, so the last minute's
    metrics (stamped at the invocation's start) are complete before they are read."""
    return interval_s + metric_period_s
