"""rollback, history and status through the CLI against the embedded AWS: the tests that change
the function, each on an account of its own (those that only read or are refused share one in
test_rollback_read_only.py)."""

from __future__ import annotations

import pytest
from publish_support import (
    BUCKET,
    FUNCTION,
    MODEL,
    create_function,
    foreign_layer,
    live_model,
    publish,
    publish_deps,
    run_cli,
    snapshot,
    train_text_pipeline,
)

from mlayer.gateway import code_sha256_to_hex


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("rollback-models")
    return {f"v{i}": train_text_pipeline(root / f"v{i}", variant=i) for i in (1, 2, 3)}


@pytest.fixture
def three(gw, models):
    """A function with deps + a foreign layer, and model-layer versions 1, 2, 3 (3 live)."""
    deps = publish_deps(gw)
    tools = foreign_layer(gw, "tools")
    create_function(gw, [tools, deps])
    arns = []
    for key in ("v1", "v2", "v3"):
        result, doc = publish(models[key])
        assert result.exit_code == 0, result.output
        arns.append(doc["layer_version_arn"])
    return {"deps": deps, "tools": tools, "arns": arns}


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
    assert live_model(gw) == three["arns"][1]
    assert run_cli("rollback", "--previous", "--yes")[0].exit_code == 0
    assert live_model(gw) == three["arns"][0]
    before = snapshot(gw)
    result, doc = run_cli("rollback", "--previous", "--yes")
    assert result.exit_code == 1 and "oldest" in doc["message"]
    assert snapshot(gw) == before


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


def test_status_of_an_unknown_function(gw):
    result, doc = run_cli("status", "--function", "nope")
    assert result.exit_code == 1 and doc["error"] == "NotFoundError"


def alias_layers(gw, alias):
    return [ly["Arn"] for ly in gw.get_function_configuration(FUNCTION, alias)["Layers"]]


def test_rollback_allow_version_mismatch_relinks_loudly(gw, three):
    newer = publish_deps(gw, sklearn="1.8.0")
    gw.update_function_configuration(FUNCTION, Layers=[three["tools"], newer, three["arns"][2]])
    result, doc = run_cli("rollback", "--version", "1", "--allow-version-mismatch", "--yes")
    assert result.exit_code == 0, result.output
    assert doc["relinked"] and live_model(gw) == three["arns"][0]
    assert doc["warnings"] and "1.8.0" in doc["warnings"][0] and "1.7.2" in doc["warnings"][0]
    assert "--allow-version-mismatch" in doc["warnings"][0]


def test_alias_follows_publish_rollback_and_previous_through_the_cli(gw, three, models):
    """--alias live: a function version is published and the alias moved, on every relink."""
    result, doc = publish(models["v1"], "--alias", "live")
    assert result.exit_code == 0, result.output
    assert doc["reused"] and doc["relinked"] and doc["alias"] == "live"
    assert alias_layers(gw, "live")[-1] == three["arns"][0]
    first = doc["function_version"]

    result, doc = run_cli("rollback", "--version", "3", "--alias", "live", "--yes")
    assert result.exit_code == 0, result.output
    assert doc["alias"] == "live" and doc["alias_from_version"] == 1
    assert doc["function_version"] != first
    assert gw.get_alias(FUNCTION, "live")["FunctionVersion"] == doc["function_version"]
    assert alias_layers(gw, "live")[-1] == three["arns"][2] == live_model(gw)

    result, doc = run_cli("rollback", "--previous", "--alias", "live", "--yes")
    assert result.exit_code == 0, result.output
    assert doc["to_version"] == 2 and alias_layers(gw, "live")[-1] == three["arns"][1]

    doc = run_cli("history", "--alias", "live")[1]
    assert doc["live_version"] == 2 and doc["alias_version"] == 2
    assert [(r["version"], r["live"], r["live_on_alias"]) for r in doc["versions"]] == [
        (3, False, False),
        (2, True, True),
        (1, False, False),
    ]
    text = run_cli_text("history", "--alias", "live")
    assert "alias live" in text and FUNCTION in text


def run_cli_text(*args):
    from click.testing import CliRunner

    from mlayer.cli import cli

    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_rollback_to_the_live_version_still_moves_a_lagging_alias(gw, three):
    # the alias is created on version 1, then the function alone is rolled forward to 3
    assert run_cli("rollback", "--version", "1", "--alias", "live", "--yes")[0].exit_code == 0
    assert run_cli("rollback", "--version", "3", "--yes")[0].exit_code == 0
    before = snapshot(gw)
    result, doc = run_cli("rollback", "--version", "3", "--alias", "live", "--yes")
    assert result.exit_code == 0, result.output
    assert not doc["noop"] and not doc["relinked"] and doc["alias_from_version"] == 1
    assert alias_layers(gw, "live")[-1] == three["arns"][2]
    assert snapshot(gw)["Layers"] == before["Layers"]
    # now both are there: a no-op that says so
    result, doc = run_cli("rollback", "--version", "3", "--alias", "live", "--yes")
    assert result.exit_code == 0 and doc["noop"]
    text = run_cli_text("rollback", "--version", "3", "--alias", "live", "--yes")
    assert "already live" in text and "alias live" in text


def test_config_alias_is_the_default_for_rollback_and_history(gw, three, tmp_path):
    (tmp_path / "mlayer.toml").write_text('[model]\nalias = "prod"\n')
    result, doc = run_cli("rollback", "--version", "2", "--yes")
    assert result.exit_code == 0, result.output
    assert doc["alias"] == "prod" and alias_layers(gw, "prod")[-1] == three["arns"][1]
    doc = run_cli("history")[1]
    assert doc["alias"] == "prod" and doc["alias_version"] == 2 and doc["live_version"] == 2


def test_rollback_dry_run_changes_neither_function_nor_versions_nor_alias(gw, three):
    assert run_cli("rollback", "--version", "3", "--alias", "live", "--yes")[0].exit_code == 0
    before, versions = snapshot(gw), gw.list_layer_versions(MODEL)
    alias = gw.get_alias(FUNCTION, "live")
    result, doc = run_cli("rollback", "--version", "1", "--alias", "live", "--dry-run")
    assert result.exit_code == 0 and doc["dry_run"] and not doc["relinked"]
    assert doc["plan"]["after"][-1] == three["arns"][0]
    assert snapshot(gw) == before and gw.list_layer_versions(MODEL) == versions
    assert gw.get_alias(FUNCTION, "live")["FunctionVersion"] == alias["FunctionVersion"]


HISTORY_KEYS = {
    "layer_name",
    "function",
    "alias",
    "live_version",
    "alias_version",
    "versions",
    "warnings",
    "model_room",
}
ROW_KEYS = {
    "version",
    "layer_version_arn",
    "label",
    "short_sha",
    "content_sha256",
    "created",
    "zipped_size",
    "unzipped_size",
    "sklearn_version",
    "live",
    "live_on_alias",
    "description",
    "store",
    "s3_objects",
    "trusted_globals",
    "prunable",
    "shadow",
}
ROLLBACK_KEYS = {
    "function",
    "layer_name",
    "layer_version_arn",
    "from_version",
    "to_version",
    "label",
    "noop",
    "dry_run",
    "relinked",
    "plan",
    "alias",
    "alias_from_version",
    "function_version",
    "outcome",
    "warnings",
    "store",
    "ephemeral_storage",
    "alias_reuses_version",
}
STATUS_KEYS = {
    "function",
    "state",
    "last_update_status",
    "runtime",
    "architectures",
    "code_size",
    "layers",
    "layer_count",
    "max_layers",
    "total_unzipped",
    "limit_bytes",
    "budget_left",
    "model_version",
    "model_label",
    "model_store",
    "s3_objects",
    "s3_permission",
    "ephemeral_storage",
    "alias",
    "alias_function_version",
    "alias_model_version",
    "alias_model_label",
    "alias_in_sync",
    "unknown_sizes",
    "warnings",
    "problems",
    "shadow",
    "rollout",
    "role_missing",
    "model_trusted_globals",
}
STATUS_LAYER_KEYS = {
    "arn",
    "name",
    "version",
    "role",
    "label",
    "zipped_size",
    "unzipped_size",
    "exact",
    "size_known",
}


def test_json_keys_are_the_documented_ones(gw, three):
    doc = run_cli("history")[1]
    assert set(doc) == HISTORY_KEYS and all(set(r) == ROW_KEYS for r in doc["versions"])
    assert doc["versions"][0]["content_sha256"][:12] == doc["versions"][0]["short_sha"]
    for args in (["--version", "1", "--dry-run"], ["--version", "1", "--yes"], ["--version", "1"]):
        doc = run_cli("rollback", *args)[1]
        assert set(doc) == ROLLBACK_KEYS, args
    doc = run_cli("status")[1]
    assert set(doc) == STATUS_KEYS and all(set(ly) == STATUS_LAYER_KEYS for ly in doc["layers"])
    assert doc["model_version"] == 1 and doc["model_label"] == "v1" and doc["layer_count"] == 3


def _on_a_terminal(args: list[str], answer: bytes, cwd) -> str:
    """Run the CLI in a subprocess whose stdin/stdout/stderr are a pseudo-terminal; answer the prompt."""
    import os
    import pty
    import subprocess
    import sys
    import time

    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlayer.cli", *args],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        cwd=cwd,
        close_fds=True,
    )
    os.close(follower)
    out, deadline, answered = b"", time.monotonic() + 60, False
    while time.monotonic() < deadline:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
        if not answered and b"[y/N]" in out:
            os.write(leader, answer + b"\n")
            answered = True
    proc.wait(timeout=60)
    os.close(leader)
    assert answered, out
    return out.decode(errors="replace")


def test_on_a_terminal_rollback_asks_and_no_changes_nothing(gw, three, tmp_path):
    before = snapshot(gw)
    out = _on_a_terminal(["rollback", "--version", "1"], b"n", tmp_path)
    assert "Relink mlayer-predict from model layer version 3 to 1?" in out and "Cancelled" in out
    assert snapshot(gw) == before
    out = _on_a_terminal(["rollback", "--version", "1"], b"y", tmp_path)
    assert "Done." in out and live_model(gw) == three["arns"][0]


def test_deploy_function_checks_the_live_model_against_the_deps_it_moves_to(gw, three):
    """deploy-function shares the compatibility check: newer deps under the live model."""
    publish_deps(gw, sklearn="1.8.0")
    before = snapshot(gw)
    result, doc = run_cli("deploy-function", "--yes")
    assert result.exit_code == 1 and doc["error"] == "ModelError"
    assert "1.8.0" in doc["message"] and "--allow-version-mismatch" in doc["hint"]
    assert snapshot(gw) == before
    result, doc = run_cli("deploy-function", "--allow-version-mismatch", "--dry-run")
    assert result.exit_code == 0, result.output
    assert any("1.8.0" in n and "--allow-version-mismatch" in n for n in doc["notes"])
    assert snapshot(gw) == before


def _function_versions(gw) -> list[str]:
    return [v["Version"] for v in gw.list_function_versions(FUNCTION)]


def test_rollback_moves_the_alias_back_to_the_version_that_carried_the_model(gw, three, models):
    """Issue 16: with an alias, each relink points it at a version carrying $LATEST; a rollback
    to a model an existing version carries moves the alias there (no new version, no snapshot)."""
    result, doc = run_cli("rollback", "--version", "1", "--alias", "live", "--yes")
    assert result.exit_code == 0, result.output
    first = doc["function_version"]
    assert not doc["outcome"]["reused_version"]
    result, doc = run_cli("rollback", "--version", "3", "--alias", "live", "--yes")
    assert result.exit_code == 0, result.output
    assert doc["function_version"] != first
    published = _function_versions(gw)
    doc = run_cli("rollback", "--version", "1", "--alias", "live", "--dry-run")[1]
    assert doc["alias_reuses_version"] == first and doc["dry_run"]
    text = run_cli_text("rollback", "--version", "1", "--alias", "live", "--dry-run")
    assert f"Would move alias live to function version {first}, which already carries" in text
    result, doc = run_cli("rollback", "--version", "1", "--alias", "live", "--yes")
    assert result.exit_code == 0, result.output
    assert doc["function_version"] == first and doc["outcome"]["reused_version"]
    assert doc["alias_reuses_version"] == first
    assert _function_versions(gw) == published  # nothing published
    assert gw.get_alias(FUNCTION, "live")["FunctionVersion"] == first
    assert alias_layers(gw, "live")[-1] == three["arns"][0] == live_model(gw)
    text = run_cli_text("rollback", "--version", "3", "--alias", "live", "--yes")
    assert "which already carried this model: no version published" in text


def test_an_existing_version_with_other_settings_is_not_reused(gw, three):
    """A version that carried the model with other settings (or code) serves differently."""
    result, doc = run_cli("rollback", "--version", "1", "--alias", "live", "--yes")
    first = doc["function_version"]
    run_cli("rollback", "--version", "2", "--alias", "live", "--yes")
    gw.update_function_configuration(FUNCTION, MemorySize=256)
    result, doc = run_cli("rollback", "--version", "1", "--alias", "live", "--yes")
    assert result.exit_code == 0, result.output
    assert doc["function_version"] not in (first, None) and not doc["outcome"]["reused_version"]


def test_status_says_when_the_alias_and_latest_carry_different_models(gw, three, tmp_path):
    (tmp_path / "mlayer.toml").write_text('[model]\nalias = "live"\n')
    assert run_cli("rollback", "--version", "2", "--yes")[0].exit_code == 0
    doc = run_cli("status")[1]
    assert doc["alias"] == "live" and doc["alias_in_sync"] is True
    assert doc["alias_model_version"] == 2 and doc["alias_model_label"] == "v2"
    assert doc["alias_function_version"] == gw.get_alias(FUNCTION, "live")["FunctionVersion"]
    assert doc["warnings"] == []
    # $LATEST alone moves on (as a relink whose alias move failed would leave it)
    gw.update_function_configuration(
        FUNCTION, Layers=[three["tools"], three["deps"], three["arns"][2]]
    )
    doc = run_cli("status")[1]
    assert doc["alias_in_sync"] is False and doc["alias_model_version"] == 2
    assert doc["model_version"] == 3
    assert "Alias live" in doc["warnings"][0] and "model layer version 2 (v2)" in doc["warnings"][0]
    assert "mlayer rollback --version 3 --alias live" in doc["warnings"][0]
    text = run_cli_text("status")
    assert "NOT $LATEST's" in text
    # and the command named brings them together
    assert run_cli("rollback", "--version", "3", "--alias", "live", "--yes")[0].exit_code == 0
    assert run_cli("status")[1]["alias_in_sync"] is True


def test_status_without_the_configured_alias_warns(gw, three, tmp_path):
    (tmp_path / "mlayer.toml").write_text('[model]\nalias = "nosuch"\n')
    doc = run_cli("status")[1]
    assert doc["alias"] is None and doc["alias_in_sync"] is None
    assert "no alias nosuch" in doc["warnings"][0]
