"""The shadow's comparison of one batch, and the EMF lines that carry it (docs/FORMATS.md).

Every line has the dimensions {function, model_version, shadow_version}: both models' versions,
so `mlayer shadow status` reads one candidate against one live model. A regressor's absolute
differences also go out as counts per bucket (``abs_diff_le``: ten buckets a decade), from which
a p95 is read back: CloudWatch's own percentiles need the values themselves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .telemetry import emf_line

BUCKETS_PER_DECADE = 10
SMALLEST_BUCKET = 1e-9  # differences at or below it count as 0 (floating-point noise)
LARGEST_STEP = 60  # 1e6: a larger difference counts in the bucket "inf"
DEAD_REASONS = ("nan", "not_a_number", "raised", "wrong_shape", "slow", "error", "not_loaded")


@dataclass
class Comparison:
    records: int = 0  # compared (the candidate gave a number or a label)
    agreed: int = 0  # classifier: same label
    abs_diff_sum: float = 0.0  # regressor
    buckets: dict[str, int] = field(default_factory=dict)  # regressor: abs_diff_le -> records
    dead: dict[str, int] = field(default_factory=dict)  # the candidate's failures, by reason
    disagreements: list[dict] = field(default_factory=list)  # id, live, shadow


def bucket_of(diff: float) -> str:
    """The bucket's upper bound as text (``0`` for exact agreement)."""
    if diff <= SMALLEST_BUCKET:
        return "0"
    step = math.ceil(math.log10(diff) * BUCKETS_PER_DECADE - 1e-9)
    return "inf" if step > LARGEST_STEP else bucket_label(step)


def bucket_label(step: int) -> str:
    return format(10 ** (step / BUCKETS_PER_DECADE), ".3g")


def bucket_labels() -> list[tuple[str, float]]:
    """Every bucket a reader queries, smallest first: (label, upper bound)."""
    first = math.ceil(math.log10(SMALLEST_BUCKET) * BUCKETS_PER_DECADE)
    steps = range(first, LARGEST_STEP + 1)
    return (
        [("0", 0.0)]
        + [(bucket_label(s), 10 ** (s / BUCKETS_PER_DECADE)) for s in steps]
        + [("inf", math.inf)]
    )


def _is_nan(value: object) -> bool:
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, list):
        return any(_is_nan(v) for v in value)
    return False


def _abs_diff(live: object, shadow: object) -> float:
    if isinstance(live, list) and isinstance(shadow, list):
        if len(live) != len(shadow):
            raise ValueError("outputs of another width")
        return max((_abs_diff(a, b) for a, b in zip(live, shadow, strict=True)), default=0.0)
    return abs(float(live) - float(shadow))  # type: ignore[arg-type]


def compare(live: list, shadow: list, ids: list, classifier: bool) -> Comparison:
    """One batch, record by record (the lists are in the same order)."""
    out = Comparison()
    for rid, a, b in zip(ids, live, shadow, strict=True):
        if _is_nan(b):
            out.dead["nan"] = out.dead.get("nan", 0) + 1
            continue
        if classifier:
            same = a == b
            out.agreed += same
        else:
            try:
                diff = _abs_diff(a, b)
            except (TypeError, ValueError):
                out.dead["not_a_number"] = out.dead.get("not_a_number", 0) + 1
                continue
            out.abs_diff_sum += diff
            key = bucket_of(diff)
            out.buckets[key] = out.buckets.get(key, 0) + 1
            same = diff <= SMALLEST_BUCKET
        out.records += 1
        if not same:
            out.disagreements.append({"id": rid, "live": a, "shadow": b})
    return out


def _dims(dimensions: dict[str, str]) -> list[list[str]]:
    return [sorted(dimensions)]


def batch_lines(
    result: Comparison,
    live_ms: float,
    shadow_ms: float,
    dimensions: dict[str, str],
    namespace: str,
    timestamp_ms: int,
) -> list[str]:
    """The batch's EMF lines: counts and both predict times, then buckets and dead letters."""
    metrics = {
        "shadow_batches": 1,
        "shadow_records": result.records,
        "live_predict_ms": live_ms,
        "shadow_predict_ms": shadow_ms,
        "shadow_agreed": result.agreed,
        "shadow_abs_diff_sum": result.abs_diff_sum,
    }
    lines = [
        emf_line(metrics, namespace=namespace, timestamp_ms=timestamp_ms, dimensions=dimensions)
    ]
    per = [
        ("abs_diff_le", "shadow_abs_diff_count", result.buckets),
        ("reason", "shadow_dead_letters", result.dead),
    ]
    for dim, name, counts in per:
        for value, count in sorted(counts.items()):
            lines.append(
                emf_line(
                    {name: count},
                    namespace=namespace,
                    timestamp_ms=timestamp_ms,
                    dimensions={**dimensions, dim: value},
                )
            )
    return lines


def disabled_lines(
    reason: str, records: int, dimensions: dict[str, str], namespace: str, timestamp_ms: int
) -> list[str]:
    """The disabling, counted: ``shadow_disabled`` 1, the batch's records as dead letters."""
    return [
        emf_line(
            {"shadow_disabled": 1, "shadow_dead_letters": records},
            namespace=namespace,
            timestamp_ms=timestamp_ms,
            dimensions={**dimensions, "reason": reason},
        )
    ]


def slow_line(records: int, dimensions: dict[str, str], namespace: str, timestamp_ms: int) -> str:
    """A batch the candidate was too slow for: its records, dead letters of reason ``slow``."""
    return emf_line(
        {"shadow_dead_letters": records},
        namespace=namespace,
        timestamp_ms=timestamp_ms,
        dimensions={**dimensions, "reason": "slow"},
    )
