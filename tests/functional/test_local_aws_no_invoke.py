"""The embedded AWS never runs a function itself: a stream whose event-source mapping targets an
alias (or the bare function) takes PutRecords and keeps the records for the emulation's poller.

Before the fix moto tried to invoke the alias inside the PutRecords request and answered 500.
"""

from __future__ import annotations

import io
import zipfile

import boto3
import pytest

from mlayer.local.aws import embedded_aws


def _clients(endpoint_url: str) -> dict:
    kw = {"endpoint_url": endpoint_url, "region_name": "us-east-1"}
    return {name: boto3.client(name, **kw) for name in ("iam", "lambda", "kinesis")}


def _stream_mapped_to(c: dict, target: str) -> str:
    role = c["iam"].create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("h.py", "def handler(event, context):\n    raise SystemExit(3)\n")
    c["lambda"].create_function(
        FunctionName="f",
        Runtime="python3.12",
        Role=role,
        Handler="h.handler",
        Code={"ZipFile": buf.getvalue()},
    )
    version = c["lambda"].publish_version(FunctionName="f")["Version"]
    c["lambda"].create_alias(FunctionName="f", Name="live", FunctionVersion=version)
    c["kinesis"].create_stream(StreamName="s", ShardCount=1)
    arn = c["kinesis"].describe_stream(StreamName="s")["StreamDescription"]["StreamARN"]
    c["lambda"].create_event_source_mapping(
        EventSourceArn=arn, FunctionName=target, StartingPosition="TRIM_HORIZON"
    )
    return arn


def _put_and_read_back(c: dict) -> list[bytes]:
    answer = c["kinesis"].put_records(
        StreamName="s",
        Records=[{"Data": f"r{i}".encode(), "PartitionKey": "p"} for i in range(3)],
    )
    assert answer["FailedRecordCount"] == 0
    one = c["kinesis"].put_record(StreamName="s", Data=b"r3", PartitionKey="p")
    assert one["SequenceNumber"]
    shard = c["kinesis"].list_shards(StreamName="s")["Shards"][0]["ShardId"]
    it = c["kinesis"].get_shard_iterator(
        StreamName="s", ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    return [r["Data"] for r in c["kinesis"].get_records(ShardIterator=it)["Records"]]


@pytest.mark.parametrize("target", ["f:live", "f"])
def test_stream_whose_mapping_targets_an_alias_accepts_put_records(aws, target):
    c = _clients(aws.endpoint_url)
    _stream_mapped_to(c, target)
    # the records are kept, undelivered, for the emulation's poller to read
    assert _put_and_read_back(c) == [b"r0", b"r1", b"r2", b"r3"]


def test_the_child_process_server_never_runs_a_function_either():
    with embedded_aws(isolated=True) as local:
        c = _clients(local.endpoint_url)
        _stream_mapped_to(c, "f:live")
        assert _put_and_read_back(c) == [b"r0", b"r1", b"r2", b"r3"]
