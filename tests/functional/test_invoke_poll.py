"""`mlayer invoke --local` and `mlayer poll --local` through the CLI, against the embedded AWS.

The function is created in moto directly (as deploy-function would): its code zip and its
layer's zip are also stored in the artifact bucket under their sha256, where the emulation
fetches them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from publish_support import fake_zip
from signals_support import interruptible

from mlayer.cli import cli
from mlayer.gateway import Gateway
from mlayer.gateway.kinesis_records import StreamRecord, put_records
from mlayer.local import pricing, sandbox

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
                "pid": os.getpid(), "batchItemFailures": failures}
""")


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


def deploy(
    gateway: Gateway, *, name="scorer", timeout=10, store_code=True, runtime=RUNTIME
) -> dict:
    gateway.ensure_bucket(BUCKET)
    layer_zip = fake_zip({"python/shared.py": "WHO = 'deps layer'\n", "mlayer/manifest.json": "{}"})
    layer_sha = hashlib.sha256(layer_zip).hexdigest()
    gateway.put_bytes(BUCKET, f"layers/{layer_sha}.zip", layer_zip)
    layer = gateway.publish_layer_version(f"{name}-deps", "test", zip_bytes=layer_zip)
    # a handler inside a package, named only by the function's configuration (as deploy-function's)
    code = fake_zip({"scorer_fn/__init__.py": "", "scorer_fn/app.py": HANDLER})
    config = gateway.create_function(
        FunctionName=name,
        Runtime=runtime,
        Role=sandbox.ensure_lambda_role(gateway, "mlayer-test"),
        Handler="scorer_fn.app.handler",
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


def event_file(tmp_path: Path) -> str:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(sam_kinesis_event(1)))
    return str(path)


def test_invoke_without_an_event_file_is_a_usage_error(gateway):
    deploy(gateway)
    result = mlayer("invoke", "--local")
    assert result.exit_code == 2
    assert "Error: No event" in result.stderr and "--event FILE" in result.stderr


def test_invoke_local_runs_the_deployed_code_with_its_layers_on_a_warm_container(gateway, tmp_path):
    deploy(gateway)
    event = tmp_path / "event.json"
    event.write_text(json.dumps(sam_kinesis_event(2)))
    result = mlayer("invoke", "--local", "--event", str(event), "--repeat", "3")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert '"count": 2' in out and '"layer": "deps layer"' in out
    assert out.count("REPORT RequestId:") == 3 and out.count("Init Duration") == 1
    for field in ("Duration:", "Billed Duration:", "Memory Size: 256 MB", "Max Memory Used:"):
        assert field in out
    [cost_line] = [line for line in out.splitlines() if line.startswith("Estimated cost")]
    assert "256 MB" in cost_line and "local timing" in cost_line
    assert f"prices read {pricing.PRICES_READ_ON}" in cost_line

    as_json = json.loads(
        mlayer("--json", "invoke", "--local", "--event", str(event), "--repeat", "3").stdout
    )
    assert set(as_json) >= {"response", "function_error", "report", "cost", "invocations"}
    assert as_json["response"]["count"] == 2 and as_json["function_error"] is None
    assert as_json["response"]["model_dir"].endswith("/mlayer")
    assert set(as_json["report"]) == {
        "request_id",
        "duration_ms",
        "billed_ms",
        "memory_mb",
        "max_memory_mb",
        "init_ms",
        "line",
    }
    assert as_json["report"]["memory_mb"] == 256 and as_json["report"]["init_ms"] is None
    assert set(as_json["cost"]) >= {"total_usd", "billed_ms", "label", "prices_read_on"}
    assert as_json["cost"]["label"] == "estimate"
    assert as_json["cost"]["prices_read_on"] == pricing.PRICES_READ_ON
    # --repeat reuses one warm container: one process, init only on the first invocation
    runs = as_json["invocations"]
    assert len(runs) == 3 and as_json["cold_starts"] == 1
    assert len({r["response"]["pid"] for r in runs}) == 1
    assert runs[0]["report"]["init_ms"] > 0
    assert [r["report"]["init_ms"] for r in runs[1:]] == [None, None]


def test_invoke_local_names_the_python_to_install_when_the_runtimes_one_is_missing(
    gateway, tmp_path, monkeypatch
):
    deploy(gateway, runtime="python3.12" if RUNTIME != "python3.12" else "python3.13")
    wanted = "3.12" if RUNTIME != "python3.12" else "3.13"
    monkeypatch.setenv("PATH", str(tmp_path))  # no python3.X on PATH ...
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "pyenv"))  # ... nor under pyenv
    result = mlayer("invoke", "--local", "--event", event_file(tmp_path))
    assert result.exit_code == 1
    assert f"runtime is python{wanted}" in result.stderr
    assert f"pyenv install {wanted}" in result.stderr


def test_invoke_without_local_on_the_embedded_aws_says_it_cannot_run_functions(gateway, tmp_path):
    deploy(gateway)
    result = mlayer("invoke", "--event", event_file(tmp_path))
    assert result.exit_code == 2
    assert "cannot run them" in result.stderr and "--local" in result.stderr


def test_invoke_local_explains_a_missing_code_zip(gateway, tmp_path):
    deploy(gateway, store_code=False)
    result = mlayer("invoke", "--local", "--event", event_file(tmp_path))
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
    summary = sandbox.ensure_stream(gateway, "events")
    sandbox.ensure_queue(gateway, "scorer-failures")
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
    put_records(gateway, "events", [StreamRecord(json.dumps(b).encode(), "k") for b in bodies])

    result = mlayer("poll", "--local", "--stream", "events", "--until-empty")
    assert result.exit_code == 1, result.output  # records were given up: the command says so
    assert result.stderr.count("batch ") == 2  # one progress line per batch
    assert (
        "20 records: 12 ok, 8 given up" in result.stdout
    )  # id 4 alone; ids 13..19 from its number on
    assert (
        "Gave up 8 records in 2 on-failure record(s), written to sqs://scorer-failures."
        in result.stdout
    )

    failures = [json.loads(b) for b in sandbox.receive_all(gateway, "scorer-failures")]
    infos = sorted(
        (f["KinesisBatchInfo"]["startSequenceNumber"], f["KinesisBatchInfo"]["endSequenceNumber"])
        for f in failures
    )
    assert infos == sorted([("5", "5"), ("14", "20")])
    assert all(f["requestContext"]["condition"] == "RetryAttemptsExhausted" for f in failures)
    assert all(f["requestContext"]["functionArn"] == config["FunctionArn"] for f in failures)
    assert all(f["KinesisBatchInfo"]["streamArn"] == summary["StreamARN"] for f in failures)
    # Lambda's on-failure record for a stream: where the records are, never their data
    [poison] = [f for f in failures if f["KinesisBatchInfo"]["startSequenceNumber"] == "5"]
    assert set(poison) == {
        "requestContext",
        "responseContext",
        "version",
        "timestamp",
        "KinesisBatchInfo",
    }
    assert poison["version"] == "1.0" and poison["timestamp"].endswith("Z")
    assert set(poison["requestContext"]) == {
        "requestId",
        "functionArn",
        "condition",
        "approximateInvokeCount",
    }
    assert poison["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    info = poison["KinesisBatchInfo"]
    assert info["shardId"] == "shardId-000000000000" and info["batchSize"] == 1
    assert set(info) == {
        "shardId",
        "startSequenceNumber",
        "endSequenceNumber",
        "approximateArrivalOfFirstRecord",
        "approximateArrivalOfLastRecord",
        "batchSize",
        "streamArn",
    }
    assert info["approximateArrivalOfFirstRecord"].endswith("Z")

    # the mapping remembers where it stopped: a second poll sees only the new records
    put_records(
        gateway,
        "events",
        [StreamRecord(json.dumps({"id": i}).encode(), "k") for i in range(3)],
    )
    again = json.loads(
        mlayer("--json", "poll", "--local", "--stream", "events", "--until-empty").stdout
    )
    assert again["records"] == 3 and again["succeeded"] == 3 and again["cold_starts"] == 1


def test_poll_local_batch_size_and_max_batches_stop_early_and_the_next_poll_resumes(gateway):
    deploy(gateway)
    summary = sandbox.ensure_stream(gateway, "events")
    gateway.create_event_source_mapping(
        FunctionName="scorer",
        EventSourceArn=summary["StreamARN"],
        StartingPosition="TRIM_HORIZON",
        BatchSize=100,
    )
    put_records(
        gateway,
        "events",
        [StreamRecord(json.dumps({"id": i}).encode(), "k") for i in range(12)],
    )
    # no --until-empty: the mapping would keep polling; --max-batches stops it
    first = mlayer(
        "poll", "--local", "--stream", "events", "--batch-size", "5", "--max-batches", "2"
    )
    assert first.exit_code == 0, first.output
    assert "batch 1: shardId-000000000000 seq 1..5 5 records -> 5 ok" in first.stderr
    assert "batch 2: shardId-000000000000 seq 6..10 5 records -> 5 ok" in first.stderr
    assert "2 batches, 10 records: 10 ok" in first.stdout
    rest = json.loads(
        mlayer("--json", "poll", "--local", "--stream", "events", "--until-empty").stdout
    )
    assert rest["records"] == 2 and [b["first_sequence"] for b in rest["batches"]] == ["11"]


def test_poll_local_without_a_mapping_uses_the_trigger_settings_from_the_oldest_record(
    gateway, monkeypatch
):
    deploy(gateway)
    sandbox.ensure_stream(gateway, "events")
    put_records(
        gateway,
        "events",
        [StreamRecord(json.dumps({"id": i}).encode(), "k") for i in range(3)],
    )
    monkeypatch.setenv("MLAYER_TRIGGER_BATCH_SIZE", "2")
    result = mlayer("poll", "--local", "--stream", "events", "--until-empty")
    assert result.exit_code == 0, result.output
    assert "3 records: 3 ok" in result.stdout and "[trigger] settings" in result.stdout
    assert result.stderr.count("batch ") == 2  # [trigger] batch_size = 2


def test_poll_local_without_a_mapping_sends_what_it_gave_up_where_deploy_function_would(
    gateway, monkeypatch
):
    """No event-source mapping and no [trigger] on_failure: deploy-function would give the
    trigger the artifact bucket (no SQS dead-letter queue here), and so does poll --local."""
    deploy(gateway)
    sandbox.ensure_stream(gateway, "events")
    bodies = [{"id": 1}, {"id": 2, "poison": True}]
    put_records(gateway, "events", [StreamRecord(json.dumps(b).encode(), "k") for b in bodies])
    monkeypatch.delenv("MLAYER_TRIGGER_ON_FAILURE", raising=False)
    monkeypatch.setenv("MLAYER_TRIGGER_MAX_RETRIES", "0")
    before = set(sandbox.list_keys(gateway, BUCKET))
    result = mlayer("--json", "poll", "--local", "--stream", "events", "--until-empty")
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    assert (doc["succeeded"], doc["gave_up"]) == (1, 1)
    [key] = (
        set(sandbox.list_keys(gateway, BUCKET))
        - before
        - {k for k in sandbox.list_keys(gateway, BUCKET) if k.startswith("local/checkpoints/")}
    )
    assert key.startswith("aws/lambda/local/shardId-000000000000/")
    assert doc["failures_sent_to"] == [f"s3://{BUCKET}/{key}"]


def test_poll_local_writes_what_it_gave_up_to_an_s3_destination_with_the_batch(
    gateway, monkeypatch
):
    deploy(gateway)
    gateway.ensure_bucket("failures")
    sandbox.ensure_stream(gateway, "events")
    bodies = [{"id": 1}, {"id": 2, "poison": True}, {"id": 3}]
    put_records(gateway, "events", [StreamRecord(json.dumps(b).encode(), "k") for b in bodies])
    monkeypatch.setenv("MLAYER_TRIGGER_ON_FAILURE", "s3://failures")
    monkeypatch.setenv("MLAYER_TRIGGER_MAX_RETRIES", "0")
    result = mlayer("--json", "poll", "--local", "--stream", "events", "--until-empty")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["ok"] is False and (doc["succeeded"], doc["gave_up"]) == (2, 1)
    [key] = sandbox.list_keys(gateway, "failures")
    assert key.startswith("aws/lambda/local/shardId-000000000000/")
    assert doc["failures_sent_to"] == [f"s3://failures/{key}"]
    written = gateway.get_json("failures", key)
    assert written["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert written["KinesisBatchInfo"]["batchSize"] == 1
    # Lambda writes the whole invocation record to S3: the given-up record's data is there
    [given_up] = written["payload"]["Records"]
    assert json.loads(base64.b64decode(given_up["kinesis"]["data"])) == bodies[1]


def test_invoke_local_refuses_an_event_over_6_mb_as_lambda_does(gateway, tmp_path):
    deploy(gateway)
    event = sam_kinesis_event(7)
    chunk = base64.b64encode(b"x" * 900_000).decode()  # each record legal, the event is not
    event["Records"] = [{**r, "kinesis": {**r["kinesis"], "data": chunk}} for r in event["Records"]]
    path = tmp_path / "big.json"
    path.write_text(json.dumps(event))
    result = mlayer("invoke", "--local", "--event", str(path))
    assert result.exit_code == 1
    assert "RequestEntityTooLargeException" in result.stderr
    assert "Request must be smaller than 6291456 bytes" in result.stderr


def test_invoke_local_refuses_a_kinesis_record_over_1_mib(gateway, tmp_path):
    deploy(gateway)
    event = sam_kinesis_event(1)
    event["Records"][0]["kinesis"]["data"] = base64.b64encode(b"y" * (1024 * 1024 + 1)).decode()
    path = tmp_path / "record.json"
    path.write_text(json.dumps(event))
    result = mlayer("invoke", "--local", "--event", str(path))
    assert result.exit_code == 2
    assert "Kinesis refuses a record over 1048576 bytes" in result.stderr


def test_poll_needs_local(gateway):
    result = mlayer("poll", "--stream", "events")
    assert result.exit_code == 2 and "--local" in result.stderr


def test_poll_local_without_a_stop_says_it_waits_until_interrupted(gateway):
    deploy(gateway)
    sandbox.ensure_stream(gateway, "events")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlayer.cli", "poll", "--local", "--stream", "events"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=interruptible,  # Ctrl-C as a terminal delivers it, whatever pytest inherited
    )
    try:
        first_line = proc.stderr.readline()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=90)
    assert "until interrupted" in first_line and "--until-empty" in first_line
