"""Structured JSON log lines and CloudWatch Embedded Metric Format (EMF) lines.

On Lambda, whatever the function prints goes to CloudWatch Logs; an EMF line there becomes
metrics without any API call, so observability costs no latency inside the invocation.
"""

from __future__ import annotations

import json

METRIC_UNITS = {
    "records": "Count",
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
) -> str:
    """One EMF document: the metrics by name, their dimensions, and free properties."""
    doc: dict[str, object] = {
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [sorted(dimensions)],
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
