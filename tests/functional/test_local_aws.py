"""The embedded AWS answers boto3 over HTTP, and `mlayer local-aws` serves it until stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import boto3
import botocore.exceptions
import pytest
from signals_support import interruptible

from mlayer.errors import AwsError
from mlayer.gateway import Gateway
from mlayer.local.aws import embedded_aws


def test_fixture_answers_boto3_over_http(aws):
    assert aws.endpoint_url.startswith("http://127.0.0.1:")
    s3 = boto3.client("s3", endpoint_url=aws.endpoint_url, region_name="us-east-1")
    s3.create_bucket(Bucket="mlayer-artifacts")
    s3.put_object(Bucket="mlayer-artifacts", Key="k", Body=b"v")
    assert s3.get_object(Bucket="mlayer-artifacts", Key="k")["Body"].read() == b"v"
    lam = boto3.client("lambda", endpoint_url=aws.endpoint_url, region_name="us-east-1")
    assert lam.list_functions()["Functions"] == []


def test_gateway_uses_the_endpoint_from_the_environment(aws):
    gw = Gateway(endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    assert gw.ensure_bucket("mlayer-artifacts") is True
    assert gw.ensure_bucket("mlayer-artifacts") is False
    gw.put_json("mlayer-artifacts", "a.json", {"x": 1})
    assert gw.get_json("mlayer-artifacts", "a.json") == {"x": 1}
    assert gw.list_layer_versions("absent-layer") == []


def test_each_test_starts_from_an_empty_aws(aws):
    s3 = boto3.client("s3", endpoint_url=aws.endpoint_url, region_name="us-east-1")
    assert s3.list_buckets()["Buckets"] == []


def test_context_manager_sets_and_restores_env():
    before = os.environ.get("AWS_ENDPOINT_URL")
    with embedded_aws(set_env=True) as local:
        assert os.environ["AWS_ENDPOINT_URL"] == local.endpoint_url
        urllib.request.urlopen(f"{local.endpoint_url}/moto-api/data.json").read()
    assert os.environ.get("AWS_ENDPOINT_URL") == before


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_local_aws_command_prints_the_endpoint_and_runs_until_stopped(stop_signal):
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlayer.cli", "--json", "local-aws"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=interruptible,  # Ctrl-C as a terminal delivers it, whatever pytest inherited
    )
    try:
        lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if line == "}\n" or not line:
                break
        doc = json.loads("".join(lines))
        endpoint = doc["endpoint_url"]
        assert doc["env"]["AWS_ENDPOINT_URL"] == endpoint
        sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        assert "q" in url
        assert proc.poll() is None  # still serving
    finally:
        proc.send_signal(stop_signal)
        proc.wait(timeout=90)
    assert proc.returncode == 0


def test_isolated_server_runs_in_a_child_process_and_stops_with_the_block():
    with embedded_aws(isolated=True) as local:
        s3 = boto3.client(
            "s3",
            endpoint_url=local.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        s3.create_bucket(Bucket="isolated-bucket")
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["isolated-bucket"]
        endpoint = local.endpoint_url
    try:
        urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=2)
        raise AssertionError("the server still answers after the block")
    except OSError:
        pass


def test_an_unknown_profile_keeps_its_hint(aws, monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    gw = Gateway(profile="no-such-profile", endpoint_url=aws.endpoint_url)
    with pytest.raises(AwsError) as err:
        gw.client("lambda")
    assert "no-such-profile" in err.value.message
    assert "configure list-profiles" in err.value.hint


def test_the_embedded_kinesis_refuses_a_record_over_1_mib_as_kinesis_does(aws):
    """moto refuses it in PutRecords but not in PutRecord: mlayer's server adds the check."""
    kinesis = boto3.client("kinesis", endpoint_url=aws.endpoint_url, region_name="us-east-1")
    kinesis.create_stream(StreamName="s", ShardCount=1)
    kinesis.get_waiter("stream_exists").wait(StreamName="s", WaiterConfig={"Delay": 0.1})
    # the largest: data plus partition key make 1 MiB, in both calls (as PutRecords counts)
    kinesis.put_record(StreamName="s", Data=b"x" * (1024 * 1024 - 1), PartitionKey="k")
    for call in (
        lambda: kinesis.put_record(StreamName="s", Data=b"x" * 1024 * 1024, PartitionKey="k"),
        lambda: kinesis.put_records(
            StreamName="s", Records=[{"Data": b"x" * 1024 * 1024, "PartitionKey": "k"}]
        ),
    ):
        with pytest.raises(botocore.exceptions.ClientError) as err:
            call()
        assert err.value.response["Error"]["Code"] == "ValidationException"
        assert "less than or equal to 1048576" in err.value.response["Error"]["Message"]


def test_the_embedded_sqs_refuses_a_message_over_1_mib_with_aws_error(gw):
    from mlayer.local import sandbox

    sandbox.ensure_queue(gw, "q")
    gw.send_message("q", "x" * 1024 * 1024)  # the largest
    with pytest.raises(AwsError) as err:
        gw.send_message("q", "x" * (1024 * 1024 + 1))
    assert err.value.code == "InvalidParameterValue"
    assert "Message must be shorter than 1048576 bytes" in err.value.message
