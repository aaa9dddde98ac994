"""What CloudWatch would hold after an emulated invocation, published to the (embedded)
CloudWatch with PutMetricData, since moto emits no AWS/Lambda metrics and parses no EMF.

- AWS/Lambda: Invocations, Errors and Duration, with the dimensions Lambda gives an alias's
  metrics (FunctionName, Resource=<function>:<alias>, ExecutedVersion) when invoked through an
  alias, and {FunctionName} alone otherwise. Duration is one value per invocation, so
  CloudWatch's percentiles (on AWS) and averages (here) are over invocations.
- EMF: every log line holding `_aws.CloudWatchMetrics` becomes data points as CloudWatch Logs
  extracts them: per directive, per dimension set, each metric's value from the line's root.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote

from mlayer.gateway.metrics import MetricDatum, put_metrics
from mlayer.local.environment import service_gateway

LAMBDA_NAMESPACE = "AWS/Lambda"


def lambda_metrics(
    function: str, alias: str | None, version: str, error: bool, duration_ms: float, stamp: float
) -> list[MetricDatum]:
    dims = (
        {"FunctionName": function, "Resource": f"{function}:{alias}", "ExecutedVersion": version}
        if alias
        else {"FunctionName": function}
    )
    return [
        MetricDatum("Invocations", dims, 1.0, timestamp=stamp),
        MetricDatum("Errors", dims, 1.0 if error else 0.0, timestamp=stamp),
        MetricDatum("Duration", dims, duration_ms, unit="Milliseconds", timestamp=stamp),
    ]


def emf_metrics(lines: Iterable[str], stamp: float) -> list[tuple[str, MetricDatum]]:
    """(namespace, datum) for every metric of every EMF line among ``lines``."""
    out: list[tuple[str, MetricDatum]] = []
    for line in lines:
        doc = _json_object(line)
        directives = (doc.get("_aws") or {}).get("CloudWatchMetrics") if doc else None
        if not isinstance(directives, list):
            continue
        when = (doc["_aws"].get("Timestamp") or stamp * 1000) / 1000
        for directive in directives:
            out += _directive(doc, directive, when)
    return out


def _directive(doc: dict, directive: Any, when: float) -> list[tuple[str, MetricDatum]]:
    namespace = directive.get("Namespace") if isinstance(directive, dict) else None
    if not namespace:
        return []
    out = []
    for dim_set in directive.get("Dimensions") or [[]]:
        if not all(isinstance(doc.get(d), str) for d in dim_set):
            continue  # CloudWatch Logs drops a set whose dimension is missing or not a string
        dims = {d: doc[d] for d in dim_set}
        for metric in directive.get("Metrics") or []:
            value = doc.get(metric.get("Name"))
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                unit = metric.get("Unit") or "None"
                out.append(
                    (namespace, MetricDatum(metric["Name"], dims, value, unit=unit, timestamp=when))
                )
    return out


def _json_object(line: str) -> dict | None:
    text = line.strip()
    if not text.startswith("{") or "_aws" not in text:
        return None
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def publish_invocation(
    gw: Any,
    function: str,
    alias: str | None,
    version: str,
    result: Any,
    stamp: float,
) -> None:
    """Publish an emulated invocation's AWS/Lambda metrics and its EMF metrics, as Lambda's
    service and CloudWatch Logs would: with the service's credentials, never the caller's."""
    publish_data(gw, invocation_data(function, alias, version, result, stamp))


def invocation_data(
    function: str, alias: str | None, version: str, result: Any, stamp: float
) -> list[tuple[str, MetricDatum]]:
    """(namespace, datum) for what one emulated invocation leaves in CloudWatch."""
    error = result.error is not None
    lam = lambda_metrics(function, alias, version, error, result.report.duration_ms, stamp)
    return [*((LAMBDA_NAMESPACE, d) for d in lam), *emf_metrics(result.logs, stamp)]


# A PutMetricData body's budget: botocore gzips a body over 10 KB (request compression), and
# the embedded AWS (moto's server) cannot check the signature of a gzipped body.
BODY_BUDGET = 9000


def publish_data(gw: Any, data: Iterable[tuple[str, MetricDatum]]) -> None:
    """Publish (namespace, datum) pairs with the service's credentials: few PutMetricData calls
    per namespace (each body within ``BODY_BUDGET``), each datum with its own timestamp."""
    by_namespace: dict[str, list[MetricDatum]] = {}
    for namespace, datum in data:
        by_namespace.setdefault(namespace, []).append(datum)
    if not by_namespace:
        return
    gw = service_gateway(gw)
    for namespace, batch in by_namespace.items():
        for part in _parts(batch):
            put_metrics(gw, namespace, part)


def _parts(data: list[MetricDatum]) -> Iterator[list[MetricDatum]]:
    """``data`` in runs whose encoded request stays within ``BODY_BUDGET`` (at most 1000 each)."""
    part: list[MetricDatum] = []
    used = 0
    for datum in data:
        size = _encoded_size(datum)
        if part and (used + size > BODY_BUDGET or len(part) == 1000):
            yield part
            part, used = [], 0
        part.append(datum)
        used += size
    if part:
        yield part


def _encoded_size(d: MetricDatum) -> int:
    """An upper estimate of a datum's bytes in the form-encoded request (measured: a datum of
    three dimensions takes about 260, estimated 330)."""
    dims = sum(50 + len(quote(k)) + len(quote(v)) for k, v in d.dimensions.items())
    return 100 + len(d.name) + len(d.unit) + dims + 40 * (len(d.values) + len(d.counts))
