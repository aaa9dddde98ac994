"""An emulated alias's metrics are put in few PutMetricData calls, none whose body botocore
would gzip (over 10 KB: the embedded AWS cannot check a gzipped body's signature), every datum
once and in order; the requests validated against botocore's CloudWatch model (Stubber)."""

from __future__ import annotations

from urllib.parse import urlencode

import boto3
import strict_requests
from botocore.stub import Stubber
from hypothesis import given, settings
from hypothesis import strategies as st

from mlayer.gateway import Gateway
from mlayer.gateway.metrics import MetricDatum
from mlayer.local.metrics_out import _parts, lambda_metrics, publish_data

COMPRESSED_OVER = 10240  # botocore's request_min_compression_size_bytes default

names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=60)
datums = st.builds(
    MetricDatum,
    st.sampled_from(["Invocations", "predicted", "a_rather_long_metric_name_" * 3]),
    st.dictionaries(names, names, min_size=0, max_size=6),
    st.floats(0, 1e12, allow_nan=False),
    timestamp=st.just(1_700_000_000.5),
)


def _client():
    return boto3.client(
        "cloudwatch", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def _body_size(client, namespace: str, part: list[MetricDatum]) -> int:
    from mlayer.gateway.metrics import _datum

    model = client.meta.service_model.operation_model("PutMetricData")
    request = client._serializer.serialize_to_request(
        {"Namespace": namespace, "MetricData": [_datum(d) for d in part]}, model
    )
    body = request["body"]  # bytes in the protocol this botocore speaks (JSON, CBOR), or a form
    return len(body) if isinstance(body, bytes) else len(urlencode(body).encode())


@settings(max_examples=40, deadline=None)
@given(st.lists(datums, max_size=300))
def test_every_part_stays_under_the_compression_size_and_keeps_every_datum(data):
    client = _client()
    parts = list(_parts(data))
    assert [d for p in parts for d in p] == data
    assert all(p and len(p) <= 1000 for p in parts)
    assert all(_body_size(client, "mlayer", p) < COMPRESSED_OVER for p in parts)


def test_thirty_invocations_are_put_in_a_few_valid_calls():
    client = _client()
    strict_requests.install(client.meta.events)
    gw = Gateway(region="us-east-1", clients={"cloudwatch": client}, account="123456789012")
    data = [
        ("AWS/Lambda", d)
        for i in range(30)
        for d in lambda_metrics("f", "live", "7", False, 12.5 + i, 1_700_000_000.0 + i)
    ]
    with Stubber(client) as stub:
        for _ in range(4):
            stub.add_response("put_metric_data", {}, None)
        publish_data(gw, data)
        stub.assert_no_pending_responses()  # 90 data in 4 calls, not 30
