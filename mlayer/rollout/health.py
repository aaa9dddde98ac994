"""Each version's health over a step's window, read back from CloudWatch as on AWS.

What is read (docs/FORMATS.md, "Rollout metrics"):
- AWS/Lambda Invocations, Errors (Sum) and Duration (p99) with the dimensions Lambda gives an
  alias's metrics: FunctionName, Resource=<function>:<alias>, ExecutedVersion;
- the function's EMF metrics (namespace `mlayer`): predicted, dead_lettered (Sum) and
  predictions by class, under the dimension set {function, function_version}; for a model
  with no classes (a regressor), prediction_bins by the function's fixed value bins, whose
  names are listed first (ListMetrics: the function names them, nothing knows them ahead).
p99: CloudWatch computes it (Stat "p99"); the window's value is its highest minute. An endpoint
that cannot (moto's serializer crashes on any percentile) is asked for the Average instead, for
both versions alike, and the latency gate's reading names that statistic: a 3x slower model is
3x slower on average too, and one slow invocation (a first predict) cannot stop an A/A rollout.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from mlayer.errors import AwsError
from mlayer.gateway.metric_names import dimension_values
from mlayer.gateway.metrics import LAMBDA_NAMESPACE, MetricQuery, lambda_dimensions, metric_values
from mlayer.rollout.gates import Health

EMF_NAMESPACE = "mlayer"
BIN_METRIC, BIN_DIMENSION = "prediction_bins", "prediction_bin"  # the function's names
P99_FALLBACK = "Average"


def emf_dimensions(function: str, version: str) -> dict[str, str]:
    return {"function": function, "function_version": version}


def _queries(
    function: str,
    alias: str,
    version: str,
    tag: str,
    classes: Sequence[str],
    p99: str,
    period: int = 60,
    bins: Sequence[str] = (),
) -> list[MetricQuery]:
    lam = lambda_dimensions(function, alias, version)
    emf = emf_dimensions(function, version)
    out = [
        MetricQuery(f"{tag}inv", LAMBDA_NAMESPACE, "Invocations", lam, "Sum", period),
        MetricQuery(f"{tag}err", LAMBDA_NAMESPACE, "Errors", lam, "Sum", period),
        MetricQuery(f"{tag}dur", LAMBDA_NAMESPACE, "Duration", lam, p99, period),
        MetricQuery(f"{tag}pred", EMF_NAMESPACE, "predicted", emf, "Sum", period),
        MetricQuery(f"{tag}dead", EMF_NAMESPACE, "dead_lettered", emf, "Sum", period),
    ]
    out += [
        MetricQuery(
            f"{tag}c{i}", EMF_NAMESPACE, "predictions", {**emf, "prediction": c}, "Sum", period
        )
        for i, c in enumerate(classes)
    ]
    out += [
        MetricQuery(
            f"{tag}b{i}", EMF_NAMESPACE, BIN_METRIC, {**emf, BIN_DIMENSION: b}, "Sum", period
        )
        for i, b in enumerate(bins)
    ]
    return out


class HealthReader:
    """Reads both versions' health for one window in one GetMetricData round (per 500)."""

    def __init__(
        self,
        gw: Any,
        function: str,
        alias: str,
        classes: Sequence[str] = (),
        period_s: float = 60,
    ) -> None:
        self.gw, self.function, self.alias = gw, function, alias
        self.period = max(1, int(period_s))
        self.classes = tuple(str(c) for c in classes)
        self.p99_stat = "p99"

    def read(self, versions: Sequence[str], start: float, end: float) -> dict[str, Health]:
        bins = {v: self._bins(v) for v in versions}
        queries = [
            q
            for i, v in enumerate(versions)
            for q in _queries(
                self.function,
                self.alias,
                v,
                f"v{i}",
                self.classes,
                self.p99_stat,
                self.period,
                bins[v],
            )
        ]
        start, end = math.floor(start), max(math.ceil(end), math.floor(start) + self.period)
        try:
            values = metric_values(self.gw, queries, start, end)
        except AwsError as exc:
            if self.p99_stat != "p99" or not _cannot_percentile(exc):
                raise
            self.p99_stat = P99_FALLBACK
            return self.read(versions, start, end)
        return {v: self._health(values, f"v{i}", bins[v]) for i, v in enumerate(versions)}

    def _bins(self, version: str) -> list[str]:
        """A regressor's value bins this version has counted into (none for a classifier)."""
        if self.classes:
            return []
        emf = emf_dimensions(self.function, version)
        return dimension_values(self.gw, EMF_NAMESPACE, BIN_METRIC, emf, BIN_DIMENSION)

    def _health(self, values: dict[str, list[float]], tag: str, bins: Sequence[str]) -> Health:
        def total(key: str) -> float:
            return float(sum(values.get(f"{tag}{key}", [])))

        durations = values.get(f"{tag}dur", [])
        return Health(
            invocations=total("inv"),
            errors=total("err"),
            records=total("pred"),
            dead_letters=total("dead"),
            p99_ms=max(durations, default=0.0),
            latency_stat=self.p99_stat,
            predictions={c: total(f"c{i}") for i, c in enumerate(self.classes)},
            bins={b: n for i, b in enumerate(bins) if (n := total(f"b{i}"))},
        )


def _cannot_percentile(exc: AwsError) -> bool:
    """moto answers a percentile statistic with an HTTP 500 (its serializer crashes)."""
    return exc.code in ("500", "InternalError", "InternalFailure", "InternalServerError")
