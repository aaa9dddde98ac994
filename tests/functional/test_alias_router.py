"""The emulation serves an alias with weights as Lambda does: one version per invocation, each
with its own configuration, and publishes what CloudWatch would hold (AWS/Lambda metrics with
ExecutedVersion, the function's EMF metrics), which mlayer reads back with GetMetricData."""

from __future__ import annotations

import hashlib
import json
import os
import random
import sys
import textwrap
import time
from pathlib import Path

import pytest
from publish_support import fake_zip

from mlayer.gateway import Gateway
from mlayer.gateway.kinesis_records import StreamRecord, put_records
from mlayer.local import sandbox
from mlayer.local.alias_router import AliasRouter, pick_version
from mlayer.local.prepare import emulator_for
from mlayer.rollout.health import HealthReader

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
RUNTIME = "python{}.{}".format(*sys.version_info[:2])
BUCKET = "mlayer-artifacts"
FN, ALIAS = "scorer", "live"

HANDLER = textwrap.dedent("""
    import json, os

    def handler(event, context):
        version = os.environ["AWS_LAMBDA_FUNCTION_VERSION"]
        if os.environ.get("FAIL"):
            raise ValueError("version " + version + " fails")
        print(json.dumps({
            "_aws": {"Timestamp": int(__import__("time").time() * 1000), "CloudWatchMetrics": [
                {"Namespace": "mlayer", "Dimensions": [["function", "function_version"]],
                 "Metrics": [{"Name": "predicted", "Unit": "Count"}]}]},
            "function": os.environ["AWS_LAMBDA_FUNCTION_NAME"], "function_version": version,
            "predicted": 10}))
        return {"who": os.environ["WHO"], "version": version}
""")


@pytest.fixture
def gateway(aws, monkeypatch):
    monkeypatch.setenv(
        "MLAYER_CACHE_DIR", os.environ.get("MLAYER_CACHE_DIR") or str(REPO / ".cache" / "mlayer")
    )
    return Gateway(region=aws.region, endpoint_url=aws.endpoint_url)


def _two_versions(gw, fail: bool = True, weight: float = 0.3) -> tuple[str, str]:
    gw.ensure_bucket(BUCKET)
    code = fake_zip({"app.py": HANDLER})
    gw.put_bytes(BUCKET, f"functions/{hashlib.sha256(code).hexdigest()}.zip", code)
    gw.create_function(
        FunctionName=FN,
        Runtime=RUNTIME,
        Role=sandbox.ensure_lambda_role(gw, "mlayer-test"),
        Handler="app.handler",
        Code={"ZipFile": code},
        MemorySize=512,
        Timeout=60,
        Environment={"Variables": {"WHO": "one"}},
    )
    v1 = gw.publish_function_version(FN)["Version"]
    second = {"WHO": "two", **({"FAIL": "1"} if fail else {})}
    gw.update_function_configuration(FN, Environment={"Variables": second})
    v2 = gw.publish_function_version(FN)["Version"]
    gw.call(
        "lambda",
        "create_alias",
        "x",
        FunctionName=FN,
        Name=ALIAS,
        FunctionVersion=v1,
        RoutingConfig={"AdditionalVersionWeights": {v2: weight}},
    )
    return str(v1), str(v2)


def test_each_invocation_lands_on_one_version_by_weight_and_runs_its_configuration(gateway):
    v1, v2 = _two_versions(gateway)
    start = time.time()
    n = 120

    def make(version):
        return emulator_for(gateway, BUCKET, FN, version=version)[0]

    with AliasRouter(gateway, FN, ALIAS, make, rng=random.Random(3)) as router:
        answers = [router.invoke({"n": i}) for i in range(n)]
    served = {v: sum(1 for got, _ in answers if got == v) for v in (v1, v2)}
    # binomial bounds: 4 standard deviations around n * 0.3
    sd = (n * 0.3 * 0.7) ** 0.5
    assert abs(served[v2] - n * 0.3) <= 4 * sd and served[v1] + served[v2] == n
    for version, result in answers:
        if version == v1:
            assert result.error is None and result.payload == {"who": "one", "version": v1}
        else:  # version 2's own environment: it fails
            assert result.error["errorType"] == "ValueError"

    health = HealthReader(gateway, FN, ALIAS, period_s=1).read([v1, v2], start - 1, time.time())
    assert health[v1].invocations == served[v1] and health[v2].invocations == served[v2]
    assert health[v1].errors == 0 and health[v2].errors == served[v2]
    assert health[v1].records == 10 * served[v1] and health[v2].records == 0
    assert health[v1].p99_ms > 0 and health[v1].latency_stat == "Average"


@pytest.mark.parametrize(("draw", "expected"), [(0.0, "2"), (0.299, "2"), (0.3, "1"), (0.99, "1")])
def test_pick_version_gives_the_additional_version_its_share(draw, expected):
    assert pick_version("1", {"2": 0.3}, draw) == expected
    assert pick_version("1", {}, draw) == "1"


def _cli(*args):
    from click.testing import CliRunner

    from mlayer.cli import cli

    result = CliRunner().invoke(cli, ["--json", *args], catch_exceptions=False)
    return result, (json.loads(result.stdout) if result.stdout.strip() else None)


def test_invoke_local_through_an_alias_runs_one_version_per_call(gateway, tmp_path, monkeypatch):
    monkeypatch.setenv("MLAYER_ARTIFACTS_BUCKET", BUCKET)
    monkeypatch.chdir(tmp_path)
    v1, v2 = _two_versions(gateway, fail=False, weight=0.5)
    (tmp_path / "ev.json").write_text(json.dumps({"n": 1}))
    result, doc = _cli(
        "invoke",
        "--local",
        "--function",
        f"{FN}:{ALIAS}",
        "--event",
        str(tmp_path / "ev.json"),
        "--repeat",
        "40",
    )
    assert result.exit_code == 0, result.output
    whos = [r["response"]["who"] for r in doc["invocations"]]
    assert len(whos) == 40 and abs(whos.count("two") - 20) <= 4 * (40 * 0.25) ** 0.5
    assert set(whos) == {"one", "two"}


def test_poll_local_through_an_alias_routes_each_batch(gateway, tmp_path, monkeypatch):
    monkeypatch.setenv("MLAYER_ARTIFACTS_BUCKET", BUCKET)
    monkeypatch.chdir(tmp_path)
    v1, v2 = _two_versions(gateway, fail=False, weight=0.5)
    sandbox.ensure_stream(gateway, "s")
    put_records(
        gateway,
        "s",
        [StreamRecord(json.dumps({"id": i}).encode(), "p") for i in range(30)],
    )
    start = time.time()
    result, doc = _cli(
        "poll",
        "--local",
        "--function",
        f"{FN}:{ALIAS}",
        "--stream",
        "s",
        "--batch-size",
        "1",
        "--until-empty",
    )
    assert result.exit_code == 0, result.output
    health = HealthReader(gateway, FN, ALIAS, period_s=1).read([v1, v2], start - 1, time.time())
    served = {v: health[v].invocations for v in (v1, v2)}
    assert served[v1] + served[v2] == 30
    assert abs(served[v2] - 15) <= 4 * (30 * 0.25) ** 0.5 and min(served.values()) > 0
