"""CloudWatch metrics: GetMetricData for the rollout's gates, PutMetricData for the emulation.

Queries go in as MetricQuery values and sums come back by id: CloudWatch's request and response
shapes stay here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any


@dataclass(frozen=True)
class MetricQuery:
    """One metric's statistic over a window: ``id`` names it in the answer."""

    id: str
    namespace: str
    name: str
    dimensions: Mapping[str, str]
    stat: str = "Sum"  # Sum | Average | Maximum | SampleCount | p99 ...
    period: int = 60


@dataclass(frozen=True)
class MetricDatum:
    """One published value (or a set of values with their counts), for PutMetricData."""

    name: str
    dimensions: Mapping[str, str]
    value: float | None = None
    values: Sequence[float] = ()
    counts: Sequence[float] = ()
    unit: str = "Count"
    timestamp: float | None = None  # epoch seconds; None: now
    extra: Mapping[str, Any] = field(default_factory=dict)


LAMBDA_NAMESPACE = "AWS/Lambda"


def lambda_dimensions(function: str, alias: str, version: str) -> dict[str, str]:
    """The dimensions Lambda gives one version's metrics when invoked through an alias."""
    return {"FunctionName": function, "Resource": f"{function}:{alias}", "ExecutedVersion": version}


def _stamp(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=timezone.utc)


def _query(q: MetricQuery) -> dict[str, Any]:
    return {
        "Id": q.id,
        "MetricStat": {
            "Metric": {
                "Namespace": q.namespace,
                "MetricName": q.name,
                "Dimensions": [{"Name": k, "Value": v} for k, v in sorted(q.dimensions.items())],
            },
            "Period": q.period,
            "Stat": q.stat,
        },
        "ReturnData": True,
    }


def metric_values(
    gw: Any, queries: Sequence[MetricQuery], start: float, end: float
) -> dict[str, list[float]]:
    """Each query's datapoints over [start, end) (epoch seconds), by id (paged, 500 a call)."""
    out: dict[str, list[float]] = {q.id: [] for q in queries}
    for first in range(0, len(queries), 500):
        chunk = [_query(q) for q in queries[first : first + 500]]
        token = None
        while True:
            params: dict[str, Any] = {
                "MetricDataQueries": chunk,
                "StartTime": _stamp(start),
                "EndTime": _stamp(end),
                "ScanBy": "TimestampAscending",
            }
            if token:
                params["NextToken"] = token
            answer = gw.call(
                "cloudwatch", "get_metric_data", "Reading CloudWatch metrics", **params
            )
            for result in answer.get("MetricDataResults", []):
                out.setdefault(result["Id"], []).extend(float(v) for v in result.get("Values", []))
            token = answer.get("NextToken")
            if not token:
                break
    return out


def put_metrics(gw: Any, namespace: str, data: Iterable[MetricDatum]) -> None:
    """Publish data points (up to 1000 a call, CloudWatch's limit)."""
    items = [_datum(d) for d in data]
    for first in range(0, len(items), 1000):
        gw.call(
            "cloudwatch",
            "put_metric_data",
            f"Publishing metrics to {namespace}",
            Namespace=namespace,
            MetricData=items[first : first + 1000],
        )


def _datum(d: MetricDatum) -> dict[str, Any]:
    item: dict[str, Any] = {
        "MetricName": d.name,
        "Dimensions": [{"Name": k, "Value": v} for k, v in sorted(d.dimensions.items())],
        "Unit": d.unit,
        **d.extra,
    }
    if d.timestamp is not None:
        item["Timestamp"] = _stamp(d.timestamp)
    if d.values:
        item["Values"] = [float(v) for v in d.values]
        item["Counts"] = [float(c) for c in (d.counts or [1.0] * len(d.values))]
    else:
        item["Value"] = float(d.value or 0.0)
    return item
