"""Models of any size through the CLI: a forest too big for its layer lives in S3 behind it.

GIVEN the real dependencies layer's size on the function (~188 MB of Lambda's 250 MB), WHEN a
120 MB random forest is published with the default ``--store auto``, THEN its artifact goes to
the artifact bucket by sha256, the layer holds only the manifest, and the real handler (in a
child process with Lambda's /opt layout and a private /tmp) downloads, verifies and serves it
with scikit-learn's own predictions. A small model after it serves from its layer; rollback
--previous brings the big one back. (A tampered or missing object, or too small a /tmp, fails
the cold start: test_s3_model_cold_start.py, on one published forest.)
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from function_support import HandlerProcess
from publish_support import (
    BUCKET,
    FUNCTION,
    MODEL,
    create_function,
    live_model,
    publish_deps,
    run_cli,
)
from s3_model_support import big_forest, forest_rows, serve

from mlayer.cli import cli

MB = 1024 * 1024
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def forest() -> Path:
    return big_forest()


@pytest.fixture(scope="session")
def forest_predictions(forest):
    import joblib

    return joblib.load(forest).predict(forest_rows()).tolist()


@pytest.fixture(scope="session")
def small_forest(tmp_path_factory) -> Path:
    """A small model with the big one's inputs (8 features), so both serve the same records."""
    import joblib
    import numpy as np
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 8))
    path = tmp_path_factory.mktemp("small") / "small.joblib"
    joblib.dump(RandomForestClassifier(n_estimators=5, random_state=0).fit(x, x[:, 1] > 0), path)
    return path


@pytest.fixture
def deployed(gw, deps_layer_build):
    """A function carrying a dependencies layer as big as the real one (its lock says so)."""
    deps = publish_deps(gw, unzipped=deps_layer_build.budget.unzipped)
    create_function(gw, [deps])
    return deps


def publish(path: Path, *extra: str):
    result, doc = run_cli("publish-model", str(path), "--input", "features", "--yes", *extra)
    assert result.exit_code == 0, result.output
    return doc


def predictions(proc: HandlerProcess) -> list:
    answer = proc.invoke({"instances": [{"features": row} for row in forest_rows()]})
    return [p["prediction"] for p in answer["predictions"]]


def fetch_lines(proc: HandlerProcess) -> list[dict]:
    return [line for line in proc.log_lines() if line.get("message") == "model artifacts fetched"]


def test_big_model_goes_to_s3_small_to_its_layer_and_rollback_brings_the_big_one_back(
    gw, deployed, forest, forest_predictions, small_forest, tmp_path, deps_layer, runtime_dir
):
    size = forest.stat().st_size
    assert size > 100 * MB

    big = publish(forest)
    assert big["store"] == "s3" and big["version"] == 1
    assert "does not fit in the function's remaining layer budget" in big["store_reason"]
    [obj] = big["s3_objects"]
    sha = big["manifest"]["artifacts"][0]["sha256"]
    assert obj == {"bucket": BUCKET, "key": f"models/{sha}", "sha256": sha, "size": size}
    assert gw.object_size(BUCKET, f"models/{sha}") == size
    assert big["unzipped_size"] < 64 * 1024  # the layer holds the manifest only
    names = zipfile.ZipFile(io.BytesIO(gw.get_bytes(BUCKET, f"layers/{big['zip_sha256']}.zip")))
    assert names.namelist() == ["mlayer/manifest.json"]
    assert big["manifest"]["artifacts"][0]["store"] == "s3"
    assert big["ephemeral_storage"] is None  # 120 MB and the margin fit Lambda's default 512 MB
    assert any("over half of the function's 128 MB" in w for w in big["warnings"])

    result, status = run_cli("status")
    assert result.exit_code == 0, result.output
    assert status["model_store"] == "s3" and status["s3_objects"] == [obj]
    assert status["s3_permission"]["action"] == "s3:GetObject"
    assert status["s3_permission"]["resources"] == [f"arn:aws:s3:::{BUCKET}/models/{sha}"]
    assert status["s3_permission"]["granted"] == "unknown"  # the embedded AWS has no simulator

    lambda_tmp = tmp_path / "lambda-tmp"
    proc = serve(gw, tmp_path, deps_layer, runtime_dir, lambda_tmp, "big")
    try:
        assert predictions(proc) == forest_predictions
        [fetched] = fetch_lines(proc)
        assert fetched["downloaded"] == 1 and fetched["bytes_downloaded"] == size
    finally:
        proc.close()

    small = publish(small_forest)
    assert small["store"] == "layer" and small["version"] == 2 and small["s3_objects"] == []
    proc = serve(gw, tmp_path, deps_layer, runtime_dir, tmp_path / "tmp-small", "small")
    try:
        assert len(predictions(proc)) == len(forest_rows()) and fetch_lines(proc) == []
    finally:
        proc.close()

    result, doc = run_cli("rollback", "--previous", "--yes")
    assert result.exit_code == 0, result.output
    assert doc["to_version"] == 1 and live_model(gw).endswith(f"{MODEL}:1")
    # The same container's /tmp (a warm start or a re-init): no download at all.
    proc = serve(gw, tmp_path, deps_layer, runtime_dir, lambda_tmp, "back")
    try:
        assert predictions(proc) == forest_predictions
        [fetched] = fetch_lines(proc)
        assert (fetched["downloaded"], fetched["reused"]) == (0, 1)
    finally:
        proc.close()

    result, history = run_cli("history")
    assert result.exit_code == 0, result.output
    rows = {r["version"]: r for r in history["versions"]}
    assert (rows[1]["store"], rows[1]["s3_objects"]) == ("s3", [obj])
    assert (rows[2]["store"], rows[2]["s3_objects"]) == ("layer", [])
    room = history["model_room"]
    assert small["unzipped_size"] < room < size  # why the big one is in S3
    text = CliRunner().invoke(cli, ["history"]).output
    assert f"Version 1 needs s3://{BUCKET}/models/{sha}" in text and "Room for the model" in text

    again = publish(forest)  # idempotent: the same content is version 1, in S3
    assert again["reused"] and again["version"] == 1 and again["store"] == "s3"


def test_store_layer_refuses_the_big_model_as_before(gw, deployed, forest):
    result, doc = run_cli(
        "publish-model", str(forest), "--input", "features", "--yes", "--store", "layer"
    )
    assert result.exit_code == 1 and doc["error"] == "BudgetError"
    assert gw.list_layer_versions(MODEL) == []


def test_store_s3_puts_even_a_small_model_in_s3_and_shares_objects_by_content(
    gw, deployed, small_forest, tmp_path
):
    import joblib
    from sklearn.preprocessing import StandardScaler

    first = publish(small_forest, "--store", "s3")
    assert first["store"] == "s3" and first["store_reason"].startswith("--store s3")
    assert first["ephemeral_storage"] is None  # Lambda's default 512 MB holds it
    [model_obj] = first["s3_objects"]
    head = gw.call("s3", "head_object", "t", Bucket=BUCKET, Key=model_obj["key"])
    scaler = tmp_path / "scaler.joblib"
    joblib.dump(StandardScaler().fit([[0.0] * 8, [1.0] * 8]), scaler)
    second = publish(small_forest, "-p", str(scaler), "--store", "s3")
    assert (
        second["version"] == 2 and [o["key"] for o in second["s3_objects"]][1] == model_obj["key"]
    )
    again = gw.call("s3", "head_object", "t", Bucket=BUCKET, Key=model_obj["key"])
    assert again["LastModified"] == head["LastModified"]  # HEAD first: not uploaded twice


def test_deploy_function_sizes_tmp_for_the_live_s3_model(gw, tmp_path):
    """A model-layer version whose manifest puts 2000 MB in S3: the function is created with
    the /tmp that holds it (moto keeps EphemeralStorage on create; updates are Stubber-tested)."""
    import hashlib

    from publish_support import fake_zip

    from mlayer.local import sandbox
    from mlayer.model.artifacts import environment_versions
    from mlayer.model.manifest import build_manifest
    from mlayer.publishing.model_store import to_s3_form
    from mlayer.publishing.models import LayerArtifact

    role = sandbox.ensure_lambda_role(gw, "big-role")
    (tmp_path / "mlayer.toml").write_text(
        f'[function]\nname = "big"\nrole = "{role}"\nmemory = 2048\n'
        f'[deps]\nlayer = "big-deps"\n[model]\nlayer = "big-model"\n'
        f'[artifacts]\nbucket = "{BUCKET}"\n'
    )
    gw.ensure_bucket(BUCKET)
    manifest = to_s3_form(
        build_manifest(
            label="v1",
            artifacts=[
                LayerArtifact("00-model.joblib", "model", "a" * 64, 2000 * MB, "x.Model", "1.7.2")
            ],
            code=[],
            input_kind="features",
            outputs={"predict": True},
            n_features=8,
            versions=environment_versions(),
            created_at="2026-01-01T00:00:00Z",
            created_by={"user": "test"},
        ),
        BUCKET,
    )
    data = fake_zip({"mlayer/manifest.json": "{}"})
    sha = hashlib.sha256(data).hexdigest()
    gw.put_bytes(BUCKET, f"layers/{sha}.zip", data)
    gw.put_json(BUCKET, f"layers/{sha}.manifest.json", manifest)
    gw.publish_layer_version("big-model", "v1 sha:0", s3=(BUCKET, f"layers/{sha}.zip"))

    result = CliRunner().invoke(
        cli, ["--json", "deploy-function", "--yes", "--allow-version-mismatch"]
    )
    assert result.exit_code == 0, result.output
    config = gw.get_function_configuration("big")
    assert config["EphemeralStorage"] == {"Size": 2264}  # 2000 MB + a tenth + 64 MB
    assert "over half of the function's 2048 MB" in result.output
    # invoke --local runs it with that /tmp: the function is told its size (fetch.free_bytes)
    from mlayer.local.prepare import function_spec

    spec, _ = function_spec(gw, BUCKET, "big", cache=tmp_path / "cache")
    assert spec.ephemeral_storage_mb == 2264


def test_a_dry_run_of_a_big_model_says_s3_and_uploads_nothing(gw, deployed, forest):
    doc = publish(forest, "--dry-run")
    assert doc["dry_run"] and doc["store"] == "s3" and not doc["published"]
    [obj] = doc["s3_objects"]
    assert gw.object_size(BUCKET, obj["key"]) is None
    assert gw.list_layer_versions(MODEL) == []


@pytest.mark.slow
def test_invoke_local_serves_the_s3_model_from_the_containers_private_tmp(
    gw, forest, forest_predictions, deps_layer_build, tmp_path, monkeypatch
):
    """The whole path through the CLI: the real dependencies layer and function code in the
    bucket, deploy-function, publish-model (auto -> S3), then `invoke --local`: the emulation
    runs the function (awslambdaric, private /opt and /tmp) and it downloads the forest."""
    import json
    import os
    import sys

    from deployed_support import publish_real_deps

    from mlayer.local import sandbox

    monkeypatch.setenv(
        "MLAYER_CACHE_DIR", os.environ.get("MLAYER_CACHE_DIR") or str(REPO / ".cache" / "mlayer")
    )
    publish_real_deps(gw, BUCKET, "mlayer-predict-deps", deps_layer_build)
    role = sandbox.ensure_lambda_role(gw, "s3-model-role")
    runtime = "python{}.{}".format(*sys.version_info[:2])
    (tmp_path / "mlayer.toml").write_text(
        f'[function]\nname = "{FUNCTION}"\nrole = "{role}"\nruntime = "{runtime}"\n'
        f'architecture = "{deps_layer_build.arch}"\nmemory = 1024\n'
        f'[artifacts]\nbucket = "{BUCKET}"\n'
    )
    result = CliRunner().invoke(cli, ["deploy-function", "--yes"])
    assert result.exit_code == 0, result.output
    assert publish(forest)["store"] == "s3"

    event = tmp_path / "event.json"
    records = [{"features": row} for row in forest_rows()]
    event.write_text(json.dumps({"instances": records}))
    result = CliRunner().invoke(cli, ["--json", "invoke", "--local", "--event", str(event)])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert [p["prediction"] for p in answer["response"]["predictions"]] == forest_predictions
