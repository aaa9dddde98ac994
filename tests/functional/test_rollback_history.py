"""rollback, history and status through the CLI against the embedded AWS."""

from __future__ import annotations

import pytest
from publish_support import (
    BUCKET,
    DEPS,
    FUNCTION,
    MODEL,
    create_function,
    foreign_layer,
    publish_deps,
    run_cli,
    snapshot,
    train_text_pipeline,
)

from mlayer.arns import layer_name
from mlayer.gateway import Gateway, code_sha256_to_hex


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("rollback-models")
    return {f"v{i}": train_text_pipeline(root / f"v{i}", variant=i) for i in (1, 2, 3)}


@pytest.fixture
def gw(aws, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return Gateway(endpoint_url=aws.endpoint_url, region="us-east-1")


@pytest.fixture
def three(gw, models):
    """A function with deps + a foreign layer, and model-layer versions 1, 2, 3 (3 live)."""
    deps = publish_deps(gw)
    tools = foreign_layer(gw, "tools")
    create_function(gw, [tools, deps])
    arns = []
    for key in ("v1", "v2", "v3"):
        paths = models[key]
        result, doc = run_cli(
            "publish-model",
            str(paths["model"]),
            "-p",
            str(paths["countvectorizer"]),
            "-p",
            str(paths["tfidf"]),
            "--yes",
        )
        assert result.exit_code == 0, result.output
        arns.append(doc["layer_version_arn"])
    return {"deps": deps, "tools": tools, "arns": arns}


def live(gw):
    return next(a for a in (ly["Arn"] for ly in snapshot(gw)["Layers"]) if layer_name(a) == MODEL)


def test_rollback_to_version_one_keeps_the_other_layers(gw, three):
    result, doc = run_cli("rollback", "--version", "1", "--yes")
    assert result.exit_code == 0, result.output
    assert doc["from_version"] == 3 and doc["to_version"] == 1 and doc["label"] == "v1"
    assert [ly["Arn"] for ly in snapshot(gw)["Layers"]] == [
        three["tools"],
        three["deps"],
        three["arns"][0],
    ]


def test_previous_steps_back_one_version_at_a_time(gw, three):
    assert run_cli("rollback", "--previous", "--yes")[0].exit_code == 0
    assert live(gw) == three["arns"][1]
    assert run_cli("rollback", "--previous", "--yes")[0].exit_code == 0
    assert live(gw) == three["arns"][0]
    before = snapshot(gw)
    result, doc = run_cli("rollback", "--previous", "--yes")
    assert result.exit_code == 1 and "oldest" in doc["message"]
    assert snapshot(gw) == before


def test_rollback_to_the_live_version_is_a_noop(gw, three):
    before = snapshot(gw)
    result, doc = run_cli("rollback", "--version", "3", "--yes")
    assert result.exit_code == 0 and doc["noop"]
    assert snapshot(gw) == before


def test_rollback_dry_run_changes_nothing(gw, three):
    before = snapshot(gw)
    result, doc = run_cli("rollback", "--version", "1", "--dry-run")
    assert result.exit_code == 0 and doc["dry_run"] and doc["plan"]["new_arn"] == three["arns"][0]
    assert snapshot(gw) == before


def test_missing_version_is_refused(gw, three):
    before = snapshot(gw)
    result, doc = run_cli("rollback", "--version", "9", "--yes")
    assert result.exit_code == 1 and doc["error"] == "NotFoundError"
    assert "1, 2, 3" in doc["hint"]
    assert snapshot(gw) == before


def test_unknown_function_is_refused(gw, three):
    before = snapshot(gw)
    result, doc = run_cli("rollback", "--version", "1", "--function", "nope", "--yes")
    assert result.exit_code == 1 and doc["error"] == "NotFoundError"
    assert snapshot(gw) == before


def test_version_and_previous_are_exclusive(gw, three):
    result, doc = run_cli("rollback", "--version", "1", "--previous", "--yes")
    assert result.exit_code == 2


def test_rollback_refuses_a_version_incompatible_with_the_function_deps(gw, three):
    """A newer deps layer (other sklearn minor) on the function: old model versions must not come back."""
    newer = publish_deps(gw, sklearn="1.8.0")
    layers = [three["tools"], newer, three["arns"][2]]
    gw.update_function_configuration(FUNCTION, Layers=layers)
    before = snapshot(gw)
    result, doc = run_cli("rollback", "--version", "1", "--yes")
    assert result.exit_code == 1 and doc["error"] == "ModelError"
    assert "1.7.2" in doc["message"] and "1.8.0" in doc["message"]
    assert snapshot(gw) == before


def test_rollback_refuses_a_layer_version_mlayer_did_not_publish(gw, three):
    from publish_support import fake_zip

    gw.publish_layer_version(MODEL, "hand-made", zip_bytes=fake_zip({"x": b"1"}))
    before = snapshot(gw)
    result, doc = run_cli("rollback", "--version", "4", "--yes")
    assert result.exit_code == 1 and "manifest" in doc["message"]
    assert snapshot(gw) == before


def test_history_lists_versions_newest_first_with_live(gw, three):
    run_cli("rollback", "--version", "2", "--yes")
    result, doc = run_cli("history")
    assert result.exit_code == 0, result.output
    rows = doc["versions"]
    assert [r["version"] for r in rows] == [3, 2, 1]
    assert [r["live"] for r in rows] == [False, True, False]
    assert [r["label"] for r in rows] == ["v3", "v2", "v1"]
    assert all(r["sklearn_version"] == "1.7.2" and len(r["short_sha"]) == 12 for r in rows)
    sha = code_sha256_to_hex(gw.get_layer_version(MODEL, 1)["Content"]["CodeSha256"])
    import io
    import zipfile

    zf = zipfile.ZipFile(io.BytesIO(gw.get_bytes(BUCKET, f"layers/{sha}.zip")))
    assert rows[2]["unzipped_size"] == sum(i.file_size for i in zf.infolist())
    human = run_cli("history")[0]
    assert human.exit_code == 0


def test_history_marks_the_alias(gw, three):
    result, doc = run_cli("rollback", "--version", "1", "--alias", "live", "--yes")
    assert result.exit_code == 0, result.output
    run_cli("rollback", "--version", "2", "--yes")
    doc = run_cli("history", "--alias", "live")[1]
    assert [(r["version"], r["live"], r["live_on_alias"]) for r in doc["versions"]] == [
        (3, False, False),
        (2, True, False),
        (1, False, True),
    ]


def test_history_of_a_layer_without_versions(gw):
    result, doc = run_cli("history")
    assert result.exit_code == 0 and doc["versions"] == []


def test_status_shows_layers_sizes_and_budget(gw, three):
    result, doc = run_cli("status")
    assert result.exit_code == 0, result.output
    assert [ly["role"] for ly in doc["layers"]] == ["other", "deps", "model"]
    assert doc["layers"][1]["unzipped_size"] == 120_000_000 and doc["layers"][1]["exact"]
    assert doc["layers"][2]["label"] == "v3" and doc["layers"][2]["exact"]
    assert not doc["layers"][0]["exact"]  # a foreign layer: only its zipped size is known
    assert doc["budget_left"] == 262_144_000 - doc["total_unzipped"]
    assert doc["state"] == "Active"
    from click.testing import CliRunner

    from mlayer.cli import cli

    text = CliRunner().invoke(cli, ["status"]).output
    assert "budget left" in text and DEPS in text


def test_status_of_an_unknown_function(gw):
    result, doc = run_cli("status", "--function", "nope")
    assert result.exit_code == 1 and doc["error"] == "NotFoundError"
