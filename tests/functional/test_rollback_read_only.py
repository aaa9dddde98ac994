"""rollback's refusals, dry runs and no-ops, history and status, on one account per module.

Every test here only reads the function, or is refused before writing, and proves it: each one
compares the function's configuration before and after (``snapshot``). So they share the set-up
test_rollback_history.py makes per test (a function with deps + a foreign layer, and model-layer
versions 1, 2, 3 published through the CLI, 3 live), made once on the worker's embedded AWS
(module_aws); the tests that change the function stay there, each on its own account.
"""

from __future__ import annotations

import pytest
from deployed_support import gateway, use
from publish_support import (
    DEPS,
    create_function,
    foreign_layer,
    publish,
    publish_deps,
    run_cli,
    snapshot,
    train_text_pipeline,
)


@pytest.fixture(scope="module")
def three(module_aws, tmp_path_factory):
    """A function with deps + a foreign layer, and model-layer versions 1, 2, 3 (3 live), in a
    folder of its own (no mlayer.toml): the gateway, the folder and the ARNs."""
    work = tmp_path_factory.mktemp("rollback-read-only")
    with pytest.MonkeyPatch.context() as mp:
        use(mp, module_aws, work)
        gw = gateway(module_aws)
        deps = publish_deps(gw)
        tools = foreign_layer(gw, "tools")
        create_function(gw, [tools, deps])
        arns = []
        for i in (1, 2, 3):
            result, doc = publish(train_text_pipeline(work / f"v{i}", variant=i))
            assert result.exit_code == 0, result.output
            arns.append(doc["layer_version_arn"])
    return {"gw": gw, "work": work, "deps": deps, "tools": tools, "arns": arns}


@pytest.fixture(autouse=True)
def _in_the_module_folder(three, module_aws, monkeypatch):
    """Each test runs the CLI from the module's folder, against the module's AWS."""
    use(monkeypatch, module_aws, three["work"])


@pytest.fixture
def gw(three):
    return three["gw"]


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
    before = snapshot(gw)
    result, doc = run_cli("rollback", "--version", "1", "--previous", "--yes")
    assert result.exit_code == 2
    assert snapshot(gw) == before


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


def test_rollback_without_yes_and_without_a_terminal_changes_nothing(gw, three):
    before = snapshot(gw)
    result, doc = run_cli("rollback", "--version", "1")
    assert result.exit_code == 2 and "--yes" in doc["hint"]
    assert "Error: " in result.stderr and "Hint: " in result.stderr
    assert snapshot(gw) == before


def test_rollback_refusals_exit_codes_and_messages(gw, three):
    before = snapshot(gw)
    for args, code, hint in (
        (["rollback", "--yes"], 2, "Hint: "),
        (["rollback", "--version", "0", "--yes"], 2, "Hint: Run `mlayer rollback --help`"),
        (["rollback", "--version", "1", "--previous", "--yes"], 2, "Hint: "),
        (["rollback", "--version", "9", "--yes"], 1, "Hint: "),
        (["rollback", "--version", "1", "--function", "nope", "--yes"], 1, "Hint: "),
    ):
        result, _ = run_cli(*args)
        assert result.exit_code == code, (args, result.output)
        assert "Error: " in result.stderr and hint in result.stderr, args
        assert snapshot(gw) == before


def test_history_of_an_unknown_function_warns(gw, three):
    result, doc = run_cli("history", "--function", "nope")
    assert result.exit_code == 0
    assert [r["live"] for r in doc["versions"]] == [False, False, False]
    assert "nope does not exist" in doc["warnings"][0]
    doc = run_cli("history", "--alias", "nosuch")[1]
    assert "no alias nosuch" in doc["warnings"][0] and doc["live_version"] == 3
