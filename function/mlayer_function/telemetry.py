"""Structured JSON log lines and CloudWatch Embedded Metric Format (EMF) lines.

On Lambda, whatever the function prints goes to CloudWatch Logs; an EMF line there becomes
metrics without any API call, so observability costs no latency inside the invocation.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

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


def process_age_ms(at: float) -> float | None:
    """How long the process had run at ``at`` (a perf_counter reading): the runtime's start as
    far as the function can know it, from /proc's start time (10 ms ticks); None without /proc."""
    try:
        with open("/proc/self/stat") as fh:
            start_ticks = int(fh.read().rpartition(")")[2].split()[19])
        age_now = time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None
    return max(0.0, (age_now - (time.perf_counter() - at)) * 1000)


def init_phases(
    package_started: float, imported: float, model_phases: dict[str, Any]
) -> dict[str, Any]:
    """The "model loaded" line's phases in ms (docs/FORMATS.md): runtime start (process start to
    the package's first line), imports (the function's modules, then the loader's and the
    estimators'), manifest, verify, load, self-check."""
    age = process_age_ms(package_started)
    phases = {
        "runtime_start_ms": None if age is None else round(age, 1),
        "imports_ms": (imported - package_started) * 1000 + model_phases.get("imports_ms", 0.0),
        **{k: v for k, v in model_phases.items() if k != "imports_ms"},
    }
    return {k: v if v is None else round(v, 3) for k, v in phases.items()}
