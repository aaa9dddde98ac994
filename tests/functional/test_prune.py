"""mlayer prune through the CLI on the embedded AWS: 16 publishes behind an alias, a canary
weight, a rollout and a shadow state; the sizes freed are checked against boto3's own listings."""

from __future__ import annotations

import json

import pytest
from prune_support import (
    alias_versions,
    assert_everything_resolves,
    canary,
    listing,
    publish_many,
)
from publish_support import BUCKET, FUNCTION, MODEL, live_model, run_cli, train_text_pipeline

# Every version a protection names below (function versions 2-10, model version 7) is older
# than the newest KEEP, so only that protection keeps it: more publishes prove nothing more.
PUBLISHES = 16
KEEP = 5


@pytest.fixture(scope="session")
def many_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("prune-models")
    return [train_text_pipeline(root / f"m{i}", variant=i) for i in range(PUBLISHES)]


@pytest.fixture
def account(gw, many_models):
    """16 model versions (16 live, alias `live` on its function version), a 10% canary on an old
    function version, a running rollout naming another, and a shadow naming model version 7."""
    arns = publish_many(gw, many_models)
    primary = canary(gw, "4", 0.1)
    gw.put_json(BUCKET, f"rollouts/{FUNCTION}/live.json", rollout_state("live", "9", "10"))
    gw.put_json(BUCKET, f"shadows/{FUNCTION}/state.json", {"model_layer_version": 7})
    finished = rollout_state("old", "2", "3", status="aborted")
    gw.put_json(BUCKET, f"rollouts/{FUNCTION}/old.json", finished)
    return {"arns": arns, "primary": primary}


def rollout_state(alias: str, old: str, new: str, status: str = "running") -> dict:
    """A rollout's state file as `publish-model --rollout` writes it (mlayer/rollout/state.py)."""
    from mlayer.rollout.gates import Thresholds
    from mlayer.rollout.state import RolloutState

    return RolloutState(
        function=FUNCTION,
        alias=alias,
        strategy="canary",
        old_version=old,
        new_version=new,
        weights=(0.1, 1.0),
        interval_s=300.0,
        thresholds=Thresholds(),
        started_at=0.0,
        updated_at=0.0,
        status=status,
    ).to_dict()


def prune(*args: str):
    return run_cli("prune", "--keep", str(KEEP), "--older-than", "0", *args)


def test_what_changes_nothing(gw, account, monkeypatch):
    """One account (its publishes are the cost) for every mode that must delete nothing."""
    from click.testing import CliRunner

    from mlayer.cli import cli

    before = listing(gw)
    # --dry-run: the plan, and nothing changed
    result, doc = prune("--dry-run")
    assert result.exit_code == 0, result.output
    assert doc["dry_run"] is True and doc["outcome"] is None
    goes = doc["plan"]["goes"]
    assert set(goes) == {
        "function_versions",
        "model_layer_versions",
        "deps_layer_versions",
        "objects",
    }
    assert goes["model_layer_versions"] and goes["function_versions"]
    assert doc["plan"]["bytes_freed"] == sum(i["bytes"] for items in goes.values() for i in items)
    # --json after the command, the [prune] defaults for what is not given
    result = CliRunner().invoke(cli, ["prune", "--dry-run", "--json", "--keep", "3"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)["plan"]
    assert shown["keep"] == 3 and shown["older_than_days"] == 14
    # without --yes and without a terminal: refused, exit 2
    result = CliRunner().invoke(cli, ["prune", "--keep", str(KEEP), "--older-than", "0"])
    assert result.exit_code == 2 and "Refusing without confirmation" in result.output
    # the defaults (10 newest, 14 days): everything here is young, nothing goes
    result, doc = run_cli("prune", "--yes")
    assert result.exit_code == 0, result.output
    assert doc["plan"]["bytes_freed"] == 0 and doc["outcome"] is None
    codes = {r["code"] for i in doc["plan"]["kept"] for r in i["reasons"]}
    assert "young" in codes and "newest" in codes
    # history marks exactly what prune with [prune] (here from the environment) would delete
    monkeypatch.setenv("MLAYER_PRUNE_KEEP", str(KEEP))
    monkeypatch.setenv("MLAYER_PRUNE_OLDER_THAN_DAYS", "0")
    marked = {r["version"] for r in run_cli("history")[1]["versions"] if r["prunable"]}
    planned = {
        i["version"]
        for i in run_cli("prune", "--dry-run")[1]["plan"]["goes"]["model_layer_versions"]
    }
    assert marked == planned and marked
    assert 7 not in marked and PUBLISHES not in marked
    text = CliRunner().invoke(cli, ["history"])
    assert text.exit_code == 0 and "(prune would delete)" in text.stdout
    assert listing(gw) == before


def test_prune_keeps_everything_referenced_and_frees_what_it_says(gw, account):
    before = listing(gw)
    result, doc = prune("--yes")
    assert result.exit_code == 0, result.output
    after = listing(gw)
    gone = {k: v for k, v in before.items() if k not in after}
    assert not set(after) - set(before)  # nothing new besides pruned/ records
    assert doc["outcome"]["complete"] is True
    assert doc["outcome"]["bytes_freed"] == sum(gone.values()) == doc["plan"]["bytes_freed"]
    deleted = {(i["kind"], i["name"]) for i in doc["outcome"]["deleted"]}
    assert deleted == set(gone)
    # what must stay, by reason
    kept = {(i["kind"], i["name"]): {r["code"] for r in i["reasons"]} for i in doc["plan"]["kept"]}
    assert "alias" in kept[("function_version", account["primary"])]
    assert "canary" in kept[("function_version", "4")]
    assert "rollout" in kept[("function_version", "9")]
    assert "rollout" in kept[("function_version", "10")]
    assert ("function_version", "2") in gone  # the finished rollout protects nothing
    assert "shadow" in kept[("model_layer_version", f"{MODEL}:7")]
    assert "latest" in kept[("model_layer_version", f"{MODEL}:{PUBLISHES}")]
    assert "previous" in kept[("model_layer_version", f"{MODEL}:{PUBLISHES - 1}")]
    newest = {f"{MODEL}:{n}" for n in range(PUBLISHES - KEEP + 1, PUBLISHES + 1)}
    assert all(("model_layer_version", n) in after for n in newest)
    assert alias_versions(gw) <= {k[1] for k in after if k[0] == "function_version"}
    assert_everything_resolves(gw)
    # every layer version's objects that remain are still there; the deleted ones' are gone
    for kind, name in after:
        if kind == "model_layer_version":
            sha = gw.get_layer_version(MODEL, int(name.split(":")[1]))["Content"]["CodeSha256"]
            from mlayer.gateway import code_sha256_to_hex

            assert ("object", f"layers/{code_sha256_to_hex(sha)}.zip") in after
    # a second run has nothing left to do
    again = prune("--yes")[1]
    assert again["plan"]["bytes_freed"] == 0 and again["outcome"] is None


def test_rollback_works_to_every_kept_version_and_says_pruned_for_the_others(gw, account):
    assert prune("--yes")[0].exit_code == 0
    gw.client("s3").delete_object(Bucket=BUCKET, Key=f"rollouts/{FUNCTION}/live.json")
    versions = [r["version"] for r in run_cli("history")[1]["versions"]]
    assert PUBLISHES in versions and 1 not in versions
    for number in sorted(versions):
        result, doc = run_cli("rollback", "--version", str(number), "--alias", "live", "--yes")
        assert result.exit_code == 0, result.output
        assert live_model(gw).endswith(f":{number}")
    assert run_cli("rollback", "--previous", "--yes")[0].exit_code == 0
    result, doc = run_cli("rollback", "--version", "1", "--yes")
    assert result.exit_code == 1 and doc["error"] == "NotFoundError"
    assert "was pruned" in doc["message"] and "v1" in doc["message"]
