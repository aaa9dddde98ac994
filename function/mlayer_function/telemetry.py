"""Structured JSON log lines and CloudWatch Embedded Metric Format (EMF) lines.

On Lambda, whatever the function prints goes to CloudWatch Logs; an EMF line there becomes
metrics without any API call, so observability costs no latency inside the invocation.
"""

from __future__ import annotations

import json

METRIC_UNITS = {
    "records": "Count",
    "predictions": "Count",
    "predicted": "Count",
    "dead_lettered": "Count",
    "failed": "Count",
    "decode_ms": "Milliseconds",
    "predict_ms": "Milliseconds",
    "deliver_ms": "Milliseconds",
}


def log_line(level: str, message: str, **fields: object) -> str:
    return json.dumps({"level": level, "message": message, **fields}, default=str)


def emf_line(
    metrics: dict[str, float],
    *,
    namespace: str,
    timestamp_ms: int,
    dimensions: dict[str, str],
    properties: dict[str, object] | None = None,
    dimension_sets: list[list[str]] | None = None,
) -> str:
    """One EMF document: the metrics by name, their dimensions, and free properties.
    ``dimension_sets`` (default: all the dimensions as one set) each make one metric."""
    doc: dict[str, object] = {
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": dimension_sets or [sorted(dimensions)],
                    "Metrics": [
                        {"Name": name, "Unit": METRIC_UNITS.get(name, "None")} for name in metrics
                    ],
                }
            ],
        },
        **dimensions,
        **{name: round(value, 3) for name, value in metrics.items()},
        **(properties or {}),
    }
    return json.dumps(doc, default=str)


def prediction_lines(
    counts: dict[str, int], *, namespace: str, timestamp_ms: int, dimensions: dict[str, str]
) -> list[str]:
    """One EMF line per predicted class: metric `predictions`, dimensions + `prediction` (the
    class), so a rollout compares the versions' class distributions (docs/FORMATS.md)."""
    sets = [[*sorted(dimensions), "prediction"]]
    return [
        emf_line(
            {"predictions": count},
            namespace=namespace,
            timestamp_ms=timestamp_ms,
            dimensions={**dimensions, "prediction": label},
            dimension_sets=sets,
        )
        for label, count in sorted(counts.items())
    ]
