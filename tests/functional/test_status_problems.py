"""status checks the live model's S3 objects (issue 23, case 7).

GIVEN a model published with ``--store s3`` on the embedded AWS, WHEN its object is deleted (or
replaced by other bytes), THEN ``mlayer status`` exits 1, prints ``Error: live model object
s3://… is missing`` (text) or lists it in ``problems`` (--json), and marks the object; publishing
the same files again uploads it back and status exits 0. Before, status exited 0 saying the
artifacts were in S3 while every cold start failed with ArtifactMissingError.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from publish_support import BUCKET, create_function, publish_deps, run_cli

from mlayer.cli import cli


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    import joblib
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    x = np.random.default_rng(3).normal(size=(60, 4))
    path = tmp_path_factory.mktemp("status-model") / "model.joblib"
    joblib.dump(LogisticRegression().fit(x, x[:, 0] > 0), path)
    return path


@pytest.fixture
def s3_model(gw, small_model) -> dict:
    create_function(gw, [publish_deps(gw)])
    result, doc = publish_s3(small_model)
    assert result.exit_code == 0, result.output
    assert doc["store"] == "s3" and len(doc["s3_objects"]) == 1
    return doc["s3_objects"][0]


def publish_s3(model):
    return run_cli("publish-model", str(model), "--input", "features", "--store", "s3", "--yes")


def status_text():
    return CliRunner().invoke(cli, ["status"])


def test_status_is_clean_while_the_objects_exist(gw, s3_model):
    result, doc = run_cli("status")
    assert result.exit_code == 0, result.output
    assert doc["problems"] == [] and doc["model_store"] == "s3"


def test_a_deleted_model_object_fails_status_and_a_republish_heals_it(gw, s3_model, small_model):
    uri = f"s3://{BUCKET}/{s3_model['key']}"
    gw.call("s3", "delete_object", "test", Bucket=BUCKET, Key=s3_model["key"])
    result, doc = run_cli("status")
    assert result.exit_code == 1
    assert doc["problems"] == [f"live model object {uri} is missing: every cold start fails."]
    text = status_text()
    assert text.exit_code == 1
    assert f"Error: live model object {uri} is missing" in text.stderr
    assert "Hint: publish the same files again" in text.stderr
    assert f"{uri} (" in text.stdout and "NOT AS PUBLISHED" in text.stdout

    result, doc = publish_s3(small_model)  # the same content: reused, its object uploaded again
    assert result.exit_code == 0 and doc["reused"], result.output
    assert gw.object_size(BUCKET, s3_model["key"]) == s3_model["size"]
    result, doc = run_cli("status")
    assert result.exit_code == 0 and doc["problems"] == []


def test_a_model_object_of_another_size_fails_status(gw, s3_model):
    gw.put_bytes(BUCKET, s3_model["key"], b"not the pickle")
    result, doc = run_cli("status")
    assert result.exit_code == 1
    [problem] = doc["problems"]
    assert f"is 14 bytes, its manifest says {s3_model['size']}" in problem


def test_a_layer_model_has_no_s3_problems(gw, small_model):
    create_function(gw, [publish_deps(gw)])
    result, _ = run_cli("publish-model", str(small_model), "--input", "features", "--yes")
    assert result.exit_code == 0, result.output
    result, doc = run_cli("status")
    assert result.exit_code == 0 and doc["model_store"] == "layer" and doc["problems"] == []
