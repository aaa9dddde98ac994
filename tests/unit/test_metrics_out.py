"""What the emulation publishes for an invocation, as CloudWatch would hold it: AWS/Lambda
metrics by alias and executed version, EMF lines extracted per dimension set; the requests
validated against botocore's CloudWatch model (Stubber)."""

from __future__ import annotations

import json

import boto3
import strict_requests
from botocore.stub import Stubber

from mlayer.gateway import Gateway
from mlayer.gateway.metrics import MetricDatum, put_metrics
from mlayer.local.metrics_out import emf_metrics, lambda_metrics


def _emf(**root) -> str:
    doc = {
        "_aws": {
            "Timestamp": 1_700_000_000_000,
            "CloudWatchMetrics": [
                {
                    "Namespace": "mlayer",
                    "Dimensions": [["function", "model_version"], ["function", "function_version"]],
                    "Metrics": [{"Name": "predicted", "Unit": "Count"}, {"Name": "predict_ms"}],
                }
            ],
        },
        "function": "f",
        "model_version": "v3",
        "function_version": "7",
        "predicted": 10,
        "predict_ms": 1.5,
    }
    doc.update(root)
    return json.dumps(doc)


def test_each_dimension_set_makes_one_datum_per_metric():
    got = emf_metrics([_emf(), "START RequestId: x", '{"level": "INFO"}'], 0.0)
    keys = {(ns, d.name, tuple(sorted(d.dimensions))) for ns, d in got}
    assert keys == {
        ("mlayer", "predicted", ("function", "model_version")),
        ("mlayer", "predicted", ("function", "function_version")),
        ("mlayer", "predict_ms", ("function", "model_version")),
        ("mlayer", "predict_ms", ("function", "function_version")),
    }
    assert {d.timestamp for _, d in got} == {1_700_000_000.0}
    assert {d.unit for _, d in got if d.name == "predict_ms"} == {"None"}


def test_a_set_whose_dimension_is_missing_is_dropped_as_cloudwatch_logs_does():
    got = emf_metrics([_emf(function_version=None)], 0.0)
    assert {tuple(sorted(d.dimensions)) for _, d in got} == {("function", "model_version")}
    assert emf_metrics(["{not json _aws", _emf(predicted="ten")], 0.0)[0][1].name == "predict_ms"


def test_lambda_metrics_carry_the_alias_and_the_executed_version():
    data = lambda_metrics("f", "live", "7", True, 12.5, 100.0)
    assert [(d.name, d.value) for d in data] == [
        ("Invocations", 1.0),
        ("Errors", 1.0),
        ("Duration", 12.5),
    ]
    assert data[0].dimensions == {"FunctionName": "f", "Resource": "f:live", "ExecutedVersion": "7"}
    assert lambda_metrics("f", None, "$LATEST", False, 1.0, 0.0)[0].dimensions == {
        "FunctionName": "f"
    }


def test_put_metric_data_requests_are_valid_cloudwatch_requests():
    client = boto3.client(
        "cloudwatch", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    strict_requests.install(client.meta.events)
    gw = Gateway(region="us-east-1", clients={"cloudwatch": client}, account="123456789012")
    data = [
        *lambda_metrics("f", "live", "7", False, 12.5, 1_700_000_000.0),
        MetricDatum(
            "Duration", {"FunctionName": "f"}, values=[1.0, 5.0], counts=[9, 1], unit="Milliseconds"
        ),
    ]
    with Stubber(client) as stub:
        stub.add_response("put_metric_data", {}, None)
        put_metrics(gw, "AWS/Lambda", data)
        stub.assert_no_pending_responses()
