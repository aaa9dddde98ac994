"""What a rollout step's decision costs, and what the emulation's weighted routing adds.

1. A step's decision: reading both versions' health (one GetMetricData of 14 queries: Lambda's
   Invocations/Errors/Duration and the EMF predicted/dead_lettered/predictions per class) and
   judging the gates, against its floor, one GetMetricData round trip of a single query, on the
   embedded AWS. Target: within 3x (the median of side-by-side pairs).
2. The emulation's weighted routing: choosing the version of an invocation from the alias's
   split (re-read at most once a second). Target: under 1 ms per invocation (median).

Run: ``.venv/bin/python -m benchmarks bench_rollout``.
"""

from __future__ import annotations

import random
import statistics
import time

DECISION_TARGET, ROUTING_TARGET_MS = 3.0, 1.0
ROUNDS = 31


def _setup(gw) -> tuple[str, str]:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("h.py", "def handler(e, c):\n    return 1\n")
    role = gw.call("iam", "create_role", "role", RoleName="r", AssumeRolePolicyDocument="{}")
    gw.call(
        "lambda",
        "create_function",
        "fn",
        FunctionName="f",
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="h.handler",
        Code={"ZipFile": buf.getvalue()},
    )
    v1 = gw.call("lambda", "publish_version", "v", FunctionName="f")["Version"]
    gw.call("lambda", "update_function_configuration", "c", FunctionName="f", Description="2")
    v2 = gw.call("lambda", "publish_version", "v", FunctionName="f")["Version"]
    gw.call(
        "lambda",
        "create_alias",
        "a",
        FunctionName="f",
        Name="live",
        FunctionVersion=v1,
        RoutingConfig={"AdditionalVersionWeights": {v2: 0.1}},
    )
    return v1, v2


def main() -> int:
    from mlayer.gateway import Gateway
    from mlayer.gateway.metrics import MetricDatum, MetricQuery, metric_values, put_metrics
    from mlayer.local.alias_router import AliasRouter
    from mlayer.local.aws import embedded_aws
    from mlayer.rollout.gates import Thresholds, judge
    from mlayer.rollout.health import HealthReader, lambda_dimensions

    with embedded_aws(set_env=True) as aws:
        gw = Gateway(region=aws.region, endpoint_url=aws.endpoint_url)
        v1, v2 = _setup(gw)
        now = time.time()
        for v in (v1, v2):
            put_metrics(
                gw,
                "AWS/Lambda",
                [MetricDatum("Invocations", lambda_dimensions("f", "live", v), 10, timestamp=now)],
            )
        reader = HealthReader(gw, "f", "live", ("billing", "technical", "shipping"), 60)
        reader.read([v2, v1], now - 300, now + 60)  # settles the statistic (p99 or Average)
        single = [MetricQuery("q", "AWS/Lambda", "Invocations", lambda_dimensions("f", "live", v1))]
        ratios, decisions = [], []
        for _ in range(ROUNDS):
            t0 = time.perf_counter()
            health = reader.read([v2, v1], now - 300, now + 60)
            judge(health[v2], health[v1], Thresholds())
            t1 = time.perf_counter()
            metric_values(gw, single, now - 300, now + 60)
            t2 = time.perf_counter()
            decisions.append((t1 - t0) * 1000)
            ratios.append((t1 - t0) / (t2 - t1))
        ratio = statistics.median(ratios)
        print(
            f"step decision: {statistics.median(decisions):.2f} ms median, "
            f"{ratio:.2f}x one GetMetricData round trip (target <= {DECISION_TARGET}x)"
        )

        router = AliasRouter(gw, "f", "live", lambda v: None, rng=random.Random(1))
        router.choose()
        per_call = []
        for _ in range(ROUNDS):
            t0 = time.perf_counter()
            for _ in range(1000):
                router.choose()
            per_call.append(time.perf_counter() - t0)  # seconds per 1000 = ms per call
        routing_ms = statistics.median(per_call)
        print(
            f"weighted routing: {routing_ms * 1000:.2f} µs per invocation median "
            f"(target < {ROUTING_TARGET_MS} ms)"
        )
    return 0 if ratio <= DECISION_TARGET and routing_ms < ROUTING_TARGET_MS else 1
