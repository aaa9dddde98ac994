"""State read back from the bucket and tampered with: a model manifest, a rollout's state file.

Each gives an Error naming the object (and the model version, or the missing key) with a Hint,
exit 1, and nothing changed; never an unexpected KeyError.
"""

from __future__ import annotations

import json

import pytest
from publish_support import (
    BUCKET,
    FUNCTION,
    create_function,
    live_model,
    publish,
    publish_deps,
    run_cli,
    snapshot,
    train_text_pipeline,
)

from mlayer.gateway import code_sha256_to_hex
from mlayer.gateway.routing import read_routing

STATE = f"rollouts/{FUNCTION}/live.json"


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("corrupt-models")
    return {f"v{i}": train_text_pipeline(root / f"v{i}", variant=i) for i in (1, 2)}


@pytest.fixture
def two(gw, models):
    """Model-layer versions 1 and 2 published, 2 live on alias `live`."""
    create_function(gw, [publish_deps(gw)])
    arns = []
    for key in ("v1", "v2"):
        result, doc = publish(models[key], "--alias", "live")
        assert result.exit_code == 0, result.output
        arns.append(doc["layer_version_arn"])
    return arns


def manifest_key_of(gw, arn: str) -> str:
    sha = code_sha256_to_hex(gw.read_layer_version(arn)["Content"]["CodeSha256"])
    return f"layers/{sha}.manifest.json"


@pytest.mark.parametrize(
    "tamper, problem",
    [
        (lambda doc: {k: v for k, v in doc.items() if k != "input_kind"}, "lacks input_kind"),
        (lambda doc: {**doc, "schema_version": 99}, "schema 99"),
        (lambda doc: ["not", "an", "object"], "not a JSON object"),
    ],
)
def test_a_tampered_manifest_refuses_the_rollback_naming_the_version(gw, two, tamper, problem):
    key = manifest_key_of(gw, two[0])
    gw.put_json(BUCKET, key, tamper(gw.get_json(BUCKET, key)))
    before = snapshot(gw)
    result, doc = run_cli("rollback", "--version", "1", "--alias", "live", "--yes")
    assert result.exit_code == 1, result.output
    assert doc["error"] == "ModelError"
    assert two[0] in doc["message"] and key in doc["message"] and problem in doc["message"]
    assert doc["hint"]
    assert snapshot(gw) == before and live_model(gw) == two[1]


def test_a_manifest_that_is_not_json_is_a_model_error_not_a_crash(gw, two):
    key = manifest_key_of(gw, two[0])
    gw.put_bytes(BUCKET, key, b'{"schema_version": 1, "model_ver')
    result, doc = run_cli("rollback", "--version", "1", "--yes")
    assert result.exit_code == 1, result.output
    assert "not JSON" in doc["message"] and two[0] in doc["message"]


def test_history_reports_a_tampered_manifest_by_its_version(gw, two):
    key = manifest_key_of(gw, two[0])
    doc = gw.get_json(BUCKET, key)
    del doc["artifacts"]
    gw.put_json(BUCKET, key, doc)
    result, out = run_cli("history")
    assert result.exit_code == 1, result.output
    assert "lacks artifacts" in out["message"] and two[0] in out["message"]


@pytest.fixture
def rollout_running(gw, two, models):
    """A canary of a third publish on `live`, left running (--no-wait): a real state file."""
    result, doc = publish(
        models["v1"], "--alias", "live", "--rollout", "canary", "--percent", "20", "--no-wait"
    )
    assert result.exit_code == 0, result.output
    assert gw.get_json(BUCKET, STATE)["status"] == "running"
    return doc["rollout"]


def test_an_incomplete_rollout_state_is_an_error_naming_the_key_and_the_file(
    gw, rollout_running, monkeypatch
):
    state = gw.get_json(BUCKET, STATE)
    del state["function"]
    gw.put_json(BUCKET, STATE, state)
    routing = read_routing(gw, FUNCTION, "live")
    before = snapshot(gw)

    result, doc = run_cli("rollback", "--version", "2", "--alias", "live", "--yes")
    assert result.exit_code == 1, result.output
    assert doc["error"] == "CorruptStateError", doc
    assert "'function'" in doc["message"] and f"s3://{BUCKET}/{STATE}" in doc["message"]
    assert "mlayer rollout abort --alias live" in doc["hint"]
    assert snapshot(gw) == before and read_routing(gw, FUNCTION, "live") == routing

    result, doc = run_cli("rollout", "status", "--alias", "live")
    assert result.exit_code == 1 and "'function'" in doc["message"]

    monkeypatch.setenv("MLAYER_MODEL_ALIAS", "live")
    result, doc = run_cli("status")
    assert result.exit_code == 0, result.output
    assert any("is corrupt" in w and "rollout abort" in w for w in doc["warnings"])


def test_rollout_abort_clears_an_unreadable_state_then_a_rollback_works(gw, rollout_running):
    gw.put_bytes(BUCKET, STATE, b"\xff not json")
    result, doc = run_cli("rollback", "--version", "2", "--alias", "live", "--yes")
    assert result.exit_code == 1 and "not JSON" in doc["message"]

    result, doc = run_cli("rollout", "abort", "--alias", "live")
    assert result.exit_code == 0, result.output
    assert doc["rollout"] is None and not gw.object_exists(BUCKET, STATE)

    result, doc = run_cli("rollback", "--version", "2", "--alias", "live", "--yes")
    assert result.exit_code == 0, result.output


def test_a_state_value_of_the_wrong_kind_names_the_file(gw, rollout_running):
    state = gw.get_json(BUCKET, STATE)
    state["weights"] = "twenty"
    gw.put_json(BUCKET, STATE, state)
    result, doc = run_cli("rollout", "status", "--alias", "live")
    assert result.exit_code == 1, result.output
    assert "wrong kind" in doc["message"] and STATE in doc["message"]
    assert json.loads(json.dumps(doc))["hint"].startswith("`mlayer rollout abort")
