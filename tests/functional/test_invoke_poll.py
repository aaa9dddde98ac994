"""`mlayer invoke --local` and `mlayer poll --local` through the CLI, against the embedded AWS.

The function is created in moto directly (as deploy-function would): its code zip and its
layer's zip are also stored in the artifact bucket under their sha256, where the emulation
fetches them.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlayer.cli import cli
from mlayer.gateway import Gateway

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
RUNTIME = "python{}.{}".format(*sys.version_info[:2])
BUCKET = "mlayer-artifacts"

HANDLER = textwrap.dedent("""
    import base64, json, os
    import shared  # from the layer, under /opt/python

    def handler(event, context):
        records = event.get("Records", [])
        failures = []
        for r in records:
            body = json.loads(base64.b64decode(r["kinesis"]["data"]))
            if body.get("poison"):
                raise ValueError("poison record " + r["eventID"])
            if body.get("fail"):
                failures.append({"itemIdentifier": r["kinesis"]["sequenceNumber"]})
        print("records", len(records))
        return {"count": len(records), "layer": shared.WHO, "model_dir": os.environ["MLAYER_MODEL_DIR"],
                "batchItemFailures": failures}
""")


def zip_bytes(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return buf.getvalue()


@pytest.fixture
def env(aws, monkeypatch):
    monkeypatch.setenv("MLAYER_ARTIFACTS_BUCKET", BUCKET)
    monkeypatch.setenv("MLAYER_FUNCTION_NAME", "scorer")
    monkeypatch.setenv(
        "MLAYER_CACHE_DIR", os.environ.get("MLAYER_CACHE_DIR") or str(REPO / ".cache" / "mlayer")
    )
    return aws


@pytest.fixture
def gateway(env):
    return Gateway(region=env.region, endpoint_url=env.endpoint_url)


def deploy(gateway: Gateway, *, name="scorer", timeout=10, store_code=True, esm=None) -> dict:
    gateway.ensure_bucket(BUCKET)
    layer_zip = zip_bytes(
        {"python/shared.py": "WHO = 'deps layer'\n", "mlayer/manifest.json": "{}"}
    )
    layer_sha = hashlib.sha256(layer_zip).hexdigest()
    gateway.put_bytes(BUCKET, f"layers/{layer_sha}.zip", layer_zip)
    layer = gateway.publish_layer_version(f"{name}-deps", "test", zip_bytes=layer_zip)
    code = zip_bytes({"app.py": HANDLER})
    config = gateway.create_function(
        FunctionName=name,
        Runtime=RUNTIME,
        Role=gateway.ensure_lambda_role("mlayer-test"),
        Handler="app.handler",
        Code={"ZipFile": code},
        MemorySize=256,
        Timeout=timeout,
        Layers=[layer["LayerVersionArn"]],
        Environment={"Variables": {"MLAYER_OUTPUT_SINK": "stdout://"}},
    )
    if store_code:
        gateway.put_bytes(BUCKET, f"functions/{hashlib.sha256(code).hexdigest()}.zip", code)
    return config


def sam_kinesis_event(n=2) -> dict:
    """What `sam local generate-event kinesis get-records` writes (same keys and shapes)."""
    return {
        "Records": [
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": "1",
                    "sequenceNumber": "49590338271490256608559692538361571095921575989136588898",
                    "data": "eyJpZCI6ICJhIn0=",
                    "approximateArrivalTimestamp": 1545084650.987,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": "shardId-000000000006:49590338271490256608559692538361571095921575989136588898",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/lambda-role",
                "awsRegion": "us-east-2",
                "eventSourceARN": "arn:aws:kinesis:us-east-2:123456789012:stream/lambda-stream",
            }
        ]
        * n
    }


def mlayer(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_invoke_local_runs_the_deployed_code_with_its_layers_on_a_warm_container(gateway, tmp_path):
    deploy(gateway)
    event = tmp_path / "event.json"
    event.write_text(json.dumps(sam_kinesis_event(2)))
    result = mlayer("invoke", "--local", "--event", str(event), "--repeat", "3")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert '"count": 2' in out and '"layer": "deps layer"' in out
    assert out.count("REPORT RequestId:") == 3 and out.count("Init Duration") == 1
    assert "Estimated cost" in out and "256 MB" in out

    as_json = json.loads(mlayer("--json", "invoke", "--local", "--event", str(event)).stdout)
    [inv] = as_json["invocations"]
    assert inv["response"]["count"] == 2 and inv["response"]["model_dir"].endswith("/mlayer")
    assert inv["report"]["memory_mb"] == 256 and inv["report"]["init_ms"] > 0
    assert as_json["cost_estimate"]["label"] == "estimate"


def test_invoke_without_local_on_the_embedded_aws_says_it_cannot_run_functions(gateway):
    deploy(gateway)
    result = mlayer("invoke")
    assert result.exit_code == 2
    assert "cannot run them" in result.stderr and "--local" in result.stderr


def test_invoke_local_explains_a_missing_code_zip(gateway):
    deploy(gateway, store_code=False)
    result = mlayer("invoke", "--local")
    assert result.exit_code == 1
    assert "functions/" in result.stderr and "deploy-function" in result.stderr


def test_a_function_error_is_shown_and_fails_the_command(gateway, tmp_path):
    deploy(gateway)
    event = tmp_path / "poison.json"
    ev = sam_kinesis_event(1)
    ev["Records"][0]["kinesis"]["data"] = "eyJwb2lzb24iOiB0cnVlfQ=="  # {"poison": true}
    event.write_text(json.dumps(ev))
    result = mlayer("invoke", "--local", "--event", str(event))
    assert result.exit_code == 1
    assert "function error" in result.stdout and '"errorType": "ValueError"' in result.stdout


def test_poll_local_delivers_retries_bisects_and_gives_up_to_the_destination(gateway):
    config = deploy(gateway)
    summary = gateway.ensure_stream("events")
    gateway.ensure_queue("scorer-failures")
    gateway.create_event_source_mapping(
        FunctionName="scorer",
        EventSourceArn=summary["StreamARN"],
        StartingPosition="TRIM_HORIZON",
        BatchSize=10,
        FunctionResponseTypes=["ReportBatchItemFailures"],
        BisectBatchOnFunctionError=True,
        MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": gateway.queue_arn("scorer-failures")}},
    )
    bodies = [{"id": i} for i in range(20)]
    bodies[4] = {
        "id": 4,
        "poison": True,
    }  # a function error: bisected down to itself, then given up
    bodies[13] = {
        "id": 13,
        "fail": True,
    }  # a batchItemFailure: retried from its number, then given up
    gateway.put_records(
        "events", [{"Data": json.dumps(b).encode(), "PartitionKey": "k"} for b in bodies]
    )

    result = mlayer("poll", "--local", "--stream", "events", "--until-empty")
    assert result.exit_code == 0, result.output
    assert result.stderr.count("batch ") == 2  # one progress line per batch
    assert (
        "20 records: 12 ok, 8 given up" in result.stdout
    )  # id 4 alone; ids 13..19 from its number on

    failures = [json.loads(b) for b in gateway.receive_all("scorer-failures")]
    infos = sorted(
        (f["KinesisBatchInfo"]["startSequenceNumber"], f["KinesisBatchInfo"]["endSequenceNumber"])
        for f in failures
    )
    assert infos == sorted([("5", "5"), ("14", "20")])
    assert all(f["requestContext"]["condition"] == "RetryAttemptsExhausted" for f in failures)
    assert all(f["requestContext"]["functionArn"] == config["FunctionArn"] for f in failures)
    assert all(f["KinesisBatchInfo"]["streamArn"] == summary["StreamARN"] for f in failures)

    # the mapping remembers where it stopped: a second poll sees only the new records
    gateway.put_records(
        "events", [{"Data": json.dumps({"id": i}).encode(), "PartitionKey": "k"} for i in range(3)]
    )
    again = json.loads(
        mlayer("--json", "poll", "--local", "--stream", "events", "--until-empty").stdout
    )
    assert again["records"] == 3 and again["succeeded"] == 3 and again["cold_starts"] == 1


def test_poll_needs_local(gateway):
    result = mlayer("poll", "--stream", "events")
    assert result.exit_code == 2 and "--local" in result.stderr
