"""The function's EMF metrics carry the function version (for a rollout) beside the model
version, and a classifier's predictions per class; CloudWatch Logs' extraction of them (the
emulation's, mlayer/local/metrics_out.py) gives the metrics the rollout reads."""

from __future__ import annotations

import json

import pytest
from function_support import HandlerProcess, kinesis_event

from mlayer.local.metrics_out import emf_metrics

TEXTS = ["win free money now", "see you at the meeting", "claim your free prize"]


@pytest.fixture(scope="module")
def versioned_fn(tmp_path_factory, model_layers, deps_layer, runtime_dir):
    proc = HandlerProcess(
        model_dir=model_layers["text"],
        deps_layer=deps_layer,
        runtime_dir=runtime_dir,
        workdir=tmp_path_factory.mktemp("versioned-fn"),
        env={"MLAYER_OUTPUT_SINK": "stdout://", "AWS_LAMBDA_FUNCTION_VERSION": "7"},
    )
    yield proc
    proc.close()


def test_a_batch_emits_its_metrics_by_function_version_and_its_classes(versioned_fn):
    before = len(versioned_fn.metrics())
    records = [{"id": f"r{i}", "text": TEXTS[i % 3]} for i in range(6)]
    versioned_fn.invoke(kinesis_event(records, shard="shardId-000000000001"))
    lines = versioned_fn.metrics()[before:]
    batch_line = next(line for line in lines if "records" in line)
    (directive,) = batch_line["_aws"]["CloudWatchMetrics"]
    assert directive["Dimensions"] == [
        ["function", "model_version"],
        ["function", "function_version"],
    ]
    assert (batch_line["function_version"], batch_line["model_version"]) == ("7", "v1")
    classes = {line["prediction"]: line["predictions"] for line in lines if "prediction" in line}
    assert sum(classes.values()) == batch_line["predicted"] == 6
    assert set(classes) <= {"spam", "ham"} and classes["spam"] == 4  # 2 of 3 texts are spam

    extracted = emf_metrics([json.dumps(line) for line in lines], 0.0)
    by_key = {(ns, d.name, tuple(sorted(d.dimensions.items()))): d.value for ns, d in extracted}
    fv = (("function", "mlayer-predict"), ("function_version", "7"))
    assert by_key[("mlayer", "predicted", fv)] == 6
    assert by_key[("mlayer", "dead_lettered", fv)] == 0
    assert by_key[("mlayer", "predictions", (*fv, ("prediction", "spam")))] == 4
    mv = (("function", "mlayer-predict"), ("model_version", "v1"))
    assert by_key[("mlayer", "predicted", mv)] == 6  # the model-version metrics as before
