"""What the function's shadow metrics say, per window and in total (`mlayer shadow status`).

The function publishes EMF lines with the dimensions {function, model_version, shadow_version}
(function/mlayer_function/shadow_metrics.py); CloudWatch (on AWS, or the emulation's
metrics_out.py) holds them as metrics, read back here with GetMetricData's Sum, one call per
window. A regressor's p95 absolute difference is read from the counts per bucket (ten a
decade): it is the upper bound of the bucket holding the 95th percentile.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlayer.gateway.metrics import MetricQuery, metric_values
from mlayer.local.pricing import PRICES

NAMESPACE = "mlayer"
SUMS = (
    "shadow_batches",
    "shadow_records",
    "shadow_agreed",
    "shadow_abs_diff_sum",
    "live_predict_ms",
    "shadow_predict_ms",
)
DEAD_REASONS = ("nan", "not_a_number", "raised", "wrong_shape", "slow", "error", "not_loaded")
BUCKETS_PER_DECADE, FIRST_STEP, LAST_STEP = 10, -90, 60  # 1e-9 .. 1e6, as the function's


def bucket_bounds() -> list[tuple[str, float]]:
    """(label, upper bound) of every bucket the function may publish, smallest first."""
    steps = range(FIRST_STEP, LAST_STEP + 1)
    labels = [(format(10 ** (s / BUCKETS_PER_DECADE), ".3g"), 10 ** (s / 10)) for s in steps]
    return [("0", 0.0), *labels, ("inf", math.inf)]


@dataclass(frozen=True)
class Reading:
    """One window (or the total): the comparison and its cost."""

    start: str
    end: str
    records_compared: int
    batches: int
    agreement: float | None  # classifier: share of records with the same label
    mean_abs_diff: float | None  # regressor
    p95_abs_diff: float | None  # regressor: a bucket's upper bound
    dead_letters: dict[str, int] = field(default_factory=dict)
    disabled: dict[str, int] = field(default_factory=dict)  # containers, by reason
    live_predict_ms: float | None = None  # per batch compared
    shadow_predict_ms: float | None = None
    extra_usd_per_million: float | None = None  # the candidate's predict time, at the sample

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def summarize(
    sums: Mapping[str, float],
    buckets: Mapping[str, float],
    dead: Mapping[str, float],
    disabled: Mapping[str, float],
    *,
    classifier: bool,
    sample: float,
    memory_mb: int,
    architecture: str,
    start: str = "",
    end: str = "",
) -> Reading:
    """A Reading from the metric sums (pure)."""
    records, batches = int(sums.get("shadow_records", 0)), int(sums.get("shadow_batches", 0))
    agreement = mean = p95 = None
    if records and classifier:
        agreement = sums.get("shadow_agreed", 0) / records
    elif records:
        mean = sums.get("shadow_abs_diff_sum", 0) / records
        p95 = percentile_bound(buckets, 0.95)
    per_batch = (lambda name: sums.get(name, 0) / batches) if batches else (lambda name: None)
    extra = None
    if records:
        ms_per_record = sums.get("shadow_predict_ms", 0) / records * sample
        per_gb_s = PRICES.get(architecture, PRICES["x86_64"])[0]
        extra = ms_per_record / 1000 * 1_000_000 * (memory_mb / 1024) * per_gb_s
    return Reading(
        start,
        end,
        records,
        batches,
        agreement,
        mean,
        p95,
        {k: int(v) for k, v in dead.items() if v},
        {k: int(v) for k, v in disabled.items() if v},
        per_batch("live_predict_ms"),
        per_batch("shadow_predict_ms"),
        extra,
    )


def percentile_bound(buckets: Mapping[str, float], q: float) -> float | None:
    """The upper bound of the bucket holding the q-th share of the records."""
    total = sum(buckets.values())
    if not total:
        return None
    seen = 0.0
    for label, bound in bucket_bounds():
        seen += buckets.get(label, 0)
        if seen >= q * total - 1e-9:
            return bound
    return math.inf


def _queries(dims: dict[str, str], period: int) -> list[MetricQuery]:
    qs = [MetricQuery(f"s_{n}", NAMESPACE, n, dims, "Sum", period) for n in SUMS]
    for i, (label, _) in enumerate(bucket_bounds()):
        qs.append(
            MetricQuery(
                f"b_{i}",
                NAMESPACE,
                "shadow_abs_diff_count",
                {**dims, "abs_diff_le": label},
                "Sum",
                period,
            )
        )
    for i, reason in enumerate(DEAD_REASONS):
        with_reason = {**dims, "reason": reason}
        qs.append(
            MetricQuery(f"d_{i}", NAMESPACE, "shadow_dead_letters", with_reason, "Sum", period)
        )
        qs.append(MetricQuery(f"x_{i}", NAMESPACE, "shadow_disabled", with_reason, "Sum", period))
    return qs


def read_window(gw: Any, dims: dict[str, str], first: float, last: float, **kw: Any) -> Reading:
    """One window [first, last) (epoch seconds) as a Reading."""
    period = max(60, int(math.ceil((last - first) / 60)) * 60)
    values = metric_values(gw, _queries(dims, period), first, last)
    total = {k: sum(v) for k, v in values.items()}
    bounds = bucket_bounds()
    return summarize(
        {n: total.get(f"s_{n}", 0.0) for n in SUMS},
        {label: total.get(f"b_{i}", 0.0) for i, (label, _) in enumerate(bounds)},
        {r: total.get(f"d_{i}", 0.0) for i, r in enumerate(DEAD_REASONS)},
        {r: total.get(f"x_{i}", 0.0) for i, r in enumerate(DEAD_REASONS)},
        **kw,
    )
