"""Helpers for the rollout tests: a function with two versions behind an alias, a fake wall
clock whose sleep publishes what CloudWatch would hold for the traffic of that time."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

from publish_support import BUCKET, FUNCTION, create_function

from mlayer.gateway.metrics import MetricDatum, put_metrics
from mlayer.rollout.health import (
    BIN_DIMENSION,
    BIN_METRIC,
    EMF_NAMESPACE,
    LAMBDA_NAMESPACE,
    emf_dimensions,
)
from mlayer.rollout.health import lambda_dimensions as lam_dims

ALIAS = "live"
CLASSES = ("spam", "ham")


def two_versions(gw) -> tuple[str, str]:
    """FUNCTION with versions 1 and 2 (different code), alias live -> 1, the artifact bucket."""
    gw.ensure_bucket(BUCKET)
    create_function(gw, [])
    v1 = gw.publish_function_version(FUNCTION, description="one")["Version"]
    gw.update_function_configuration(FUNCTION, Description="two")
    v2 = gw.publish_function_version(FUNCTION, description="two")["Version"]
    gw.create_alias(FUNCTION, ALIAS, v1)
    return str(v1), str(v2)


@dataclass
class Behaviour:
    """How a version behaves per record: error per invocation, dead letters, ms, classes."""

    error_p: float = 0.0
    dead_p: float = 0.0
    ms: float = 40.0
    shares: tuple[float, ...] = (0.5, 0.5)
    # a regressor: its next prediction, and the function's value bin for it (prediction_counts)
    values: Callable[[random.Random], float] | None = None
    bin_key: Callable[[float], str] = str


@dataclass
class Traffic:
    """A fake epoch clock; sleeping publishes the metrics of the records sent meanwhile, each
    record on the new version with the alias's current weight (read from AWS, as Lambda does)."""

    gw: object
    versions: dict[str, Behaviour]
    per_second: float = 2.0
    now: float = field(default_factory=lambda: time.time() - 6 * 3600)
    rng: random.Random = field(default_factory=lambda: random.Random(5))
    on_sleep: object = None
    sleeps: list = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.send(seconds)
        self.now += seconds
        if self.on_sleep:
            self.on_sleep()

    def send(self, seconds: float) -> None:
        alias = self.gw.get_alias(FUNCTION, ALIAS)
        weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        counts: dict[str, int] = {}
        for _ in range(int(seconds * self.per_second / 10)):  # batches of 10 records
            version = str(alias["FunctionVersion"])
            for other, w in weights.items():
                if self.rng.random() < w:
                    version = other
            counts[version] = counts.get(version, 0) + 1
        for version, batches in counts.items():
            self.publish(version, batches, self.now + seconds / 2)

    def publish(self, version: str, batches: int, stamp: float) -> None:
        b = self.versions[version]
        errors = sum(self.rng.random() < b.error_p for _ in range(batches))
        records = 10 * (batches - errors)
        dead = sum(self.rng.random() < b.dead_p for _ in range(records))
        if b.values is not None:
            self.publish_bins(version, b, records - dead, stamp)
            picks: list[str] = []
        else:
            picks = self.rng.choices(CLASSES, weights=b.shares, k=records - dead)
        lam = lam_dims(FUNCTION, ALIAS, version)
        emf = emf_dimensions(FUNCTION, version)
        put_metrics(
            self.gw,
            LAMBDA_NAMESPACE,
            [
                MetricDatum("Invocations", lam, batches, timestamp=stamp),
                MetricDatum("Errors", lam, errors, timestamp=stamp),
                MetricDatum("Duration", lam, b.ms, unit="Milliseconds", timestamp=stamp),
            ],
        )
        put_metrics(
            self.gw,
            EMF_NAMESPACE,
            [
                MetricDatum("predicted", emf, records - dead, timestamp=stamp),
                MetricDatum("dead_lettered", emf, dead, timestamp=stamp),
                *(
                    MetricDatum(
                        "predictions", {**emf, "prediction": c}, picks.count(c), timestamp=stamp
                    )
                    for c in (CLASSES if b.values is None else ())
                ),
            ],
        )

    def publish_bins(self, version: str, b: Behaviour, records: int, stamp: float) -> None:
        """A regressor's predictions counted per value bin, as the function's EMF lines do."""
        assert b.values is not None
        counts: dict[str, int] = {}
        for _ in range(records):
            key = b.bin_key(b.values(self.rng))
            counts[key] = counts.get(key, 0) + 1
        emf = emf_dimensions(FUNCTION, version)
        put_metrics(
            self.gw,
            EMF_NAMESPACE,
            [
                MetricDatum(BIN_METRIC, {**emf, BIN_DIMENSION: k}, n, timestamp=stamp)
                for k, n in sorted(counts.items())
            ],
        )


@contextmanager
def rollout_demo(tmp_path, repo_root, monkeypatch, lines: list[str]):
    """The demo's function on a fresh embedded AWS with IAM enforced (the deployer holds exactly
    `mlayer policy --deployer`), deployed, alias `live` made on the demo's model version 1 and
    its stream read: (demo, RolloutStep, live model), for the e2e rollouts."""
    from mlayer.demo import data as demo_data
    from mlayer.demo.least_privilege import DemoPrincipals
    from mlayer.demo.rollout_story import RolloutStep
    from mlayer.demo.story import BUCKET as DEMO_BUCKET
    from mlayer.demo.story import FUNCTION as DEMO_FUNCTION
    from mlayer.demo.story import STREAM, Demo
    from mlayer.local.aws import embedded_aws

    cache = os.environ.get("MLAYER_CACHE_DIR", str(repo_root / ".cache" / "mlayer"))
    monkeypatch.setenv("MLAYER_CACHE_DIR", cache)
    demo = Demo(tmp_path, 90, say=lines.append)
    with embedded_aws(isolated=True, enforce_iam=True) as aws:  # as `make demo` runs
        demo.iam = DemoPrincipals.set_up(aws)
        demo.env = demo.iam.deployer_env(os.environ)  # the deployer holds `mlayer policy`'s
        demo.gateway = demo.iam.admin_gateway
        demo.prepare_aws()
        live = demo_data.train(tmp_path / "models", 1)
        demo.deploy()
        step = RolloutStep(demo, STREAM, DEMO_FUNCTION, DEMO_BUCKET)
        step.start(live)
        try:
            yield demo, step, live
        except BaseException:
            print("\n".join(lines))  # every command and its output: in the failure's report
            raise


def regressor_steps(kind: str, seed: int = 0, tol: float = 1e-4) -> list:
    """StandardScaler -> a regressor on 3 numbers (y around 100 +- 30). "ridge": Ridge, whose
    ``tol`` its dense solver never uses (so other bytes, the same predictions); "constant":
    the training mean for every record, as a model whose features were lost would predict."""
    import numpy as np
    from sklearn.dummy import DummyRegressor
    from sklearn.linear_model import Ridge
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(400, 3))
    y = 100 + 20 * x[:, 0] - 10 * x[:, 1] + rng.normal(scale=5, size=400)
    scaler = StandardScaler().fit(x)
    model = DummyRegressor() if kind == "constant" else Ridge(alpha=1.0, tol=tol)
    return [scaler, model.fit(scaler.transform(x), y)]
