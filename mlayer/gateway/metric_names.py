"""CloudWatch ListMetrics: which values one dimension of a metric has taken, for the rollout's
binned prediction shift (a regressor's bins are named by the function, not known ahead)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def dimension_values(
    gw: Any, namespace: str, name: str, dimensions: Mapping[str, str], key: str
) -> list[str]:
    """The values of dimension ``key`` among ``name``'s metrics that carry ``dimensions``
    (every page; CloudWatch keeps a metric listed two weeks after its last data point)."""
    metrics = gw.paginate(
        "cloudwatch",
        "list_metrics",
        "Metrics",
        f"Listing CloudWatch metrics {namespace}/{name}",
        Namespace=namespace,
        MetricName=name,
        Dimensions=[{"Name": k, "Value": v} for k, v in sorted(dimensions.items())]
        + [{"Name": key}],
    )
    found: set[str] = set()
    for metric in metrics:
        dims = {d["Name"]: d.get("Value", "") for d in metric.get("Dimensions", [])}
        if set(dims) == {*dimensions, key}:
            found.add(str(dims[key]))
    return sorted(found)
