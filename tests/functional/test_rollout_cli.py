"""publish-model --rollout and `mlayer rollout` through the CLI on the embedded AWS."""

from __future__ import annotations

import functools
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner
from publish_support import (
    BUCKET,
    FUNCTION,
    MODEL,
    create_function,
    publish,
    publish_args,
    publish_deps,
    run_cli,
    train_text_pipeline,
)
from signals_support import interruptible

from mlayer.cli import cli
from mlayer.gateway.routing import read_routing
from mlayer.rollout.publishing import rollouts_for


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("rollout-models")
    return {k: train_text_pipeline(root / k, variant=i) for i, k in enumerate(("v1", "v2", "v3"))}


@pytest.fixture
def live(gw, models):
    """The function, its deps, model v1 live on alias `live` (version 1)."""
    create_function(gw, [publish_deps(gw)])
    result, doc = publish(models["v1"], "--alias", "live")
    assert result.exit_code == 0, result.output
    return doc["function_version"]


def _split(gw):
    routing = read_routing(gw, FUNCTION, "live")
    return routing.version, dict(routing.weights)


def test_a_rollout_without_an_alias_is_refused_and_publishes_nothing(gw, models):
    create_function(gw, [publish_deps(gw)])
    result, doc = publish(models["v1"], "--rollout", "canary")
    assert result.exit_code == 2
    assert "[model] alias" in result.stderr and "nothing was published" in result.stderr
    assert gw.list_layer_versions(MODEL) == []


def test_no_wait_leaves_the_split_and_the_state_file(gw, live, models, monkeypatch):
    result, doc = publish(
        models["v2"], "--alias", "live", "--rollout", "canary", "--percent", "20", "--no-wait"
    )
    assert result.exit_code == 0, result.output
    state = doc["rollout"]
    assert (state["status"], state["weight"], state["old_version"]) == ("running", 0.2, live)
    new = state["new_version"]
    assert _split(gw) == (live, {new: 0.2})
    assert gw.get_json(BUCKET, f"rollouts/{FUNCTION}/live.json")["status"] == "running"

    result, doc = run_cli("rollout", "status", "--alias", "live")
    assert result.exit_code == 0 and doc["rollout"]["weight"] == 0.2
    monkeypatch.setenv("MLAYER_MODEL_ALIAS", "live")
    result, doc = run_cli("status")
    shown = doc["rollout"]
    assert (shown["old_version"], shown["new_version"], shown["weight"]) == (live, new, 0.2)
    assert (shown["step"], shown["weights"], shown["strategy"]) == (0, [0.2], "canary")
    assert shown["started_at"] == state["started_at"]
    assert not [w for w in doc["warnings"] if "ollout" in w]
    text = CliRunner().invoke(cli, ["status"], catch_exceptions=False).output
    assert (
        f"Rollout on alias live (canary, step 1 of 1): version {live} 80%, version {new} 20%"
        in text
    )
    monkeypatch.delenv("MLAYER_MODEL_ALIAS")

    # a second publish while it runs is refused before anything is published
    before = gw.list_layer_versions(MODEL)
    result, _ = publish(models["v3"], "--alias", "live", "--rollout", "canary")
    assert result.exit_code == 2 and "rollout of" in result.stderr
    assert gw.list_layer_versions(MODEL) == before

    result, doc = run_cli("rollout", "abort", "--alias", "live")
    assert result.exit_code == 0, result.output
    assert doc["rollout"]["status"] == "aborted"
    assert _split(gw) == (live, {})


def test_resume_with_no_traffic_never_promotes_blind(gw, live, models, monkeypatch):
    for key, value in {
        "INTERVAL": "0.05s",
        "METRIC_PERIOD": "0.05s",
        "MAX_EXTENSIONS": "1",
        "MIN_RECORDS": "5",
    }.items():
        monkeypatch.setenv(f"MLAYER_ROLLOUT_{key}", value)
    result, doc = publish(
        models["v2"], "--alias", "live", "--rollout", "linear", "--percent", "50", "--no-wait"
    )
    assert result.exit_code == 0, result.output
    result, doc = run_cli("rollout", "resume", "--alias", "live")
    assert result.exit_code == 1
    assert "not enough traffic" in result.stderr and "min_records 5" in result.stderr
    assert _split(gw) == (live, {})
    saved = gw.get_json(BUCKET, f"rollouts/{FUNCTION}/live.json")
    assert saved["status"] == "rolled_back"
    assert [h["outcome"] for h in saved["history"]] == ["wait", "fail"]


def test_provisioned_concurrency_is_refused_before_anything_is_published(
    gw, live, models, monkeypatch
):
    monkeypatch.setenv("MLAYER_FUNCTION_PROVISIONED_CONCURRENCY", "2")
    monkeypatch.setenv("MLAYER_MODEL_ALIAS", "live")
    before = gw.list_layer_versions(MODEL)
    result, _ = publish(models["v2"], "--rollout", "canary")
    assert result.exit_code == 2 and "Provisioned Concurrency" in result.stderr
    assert gw.list_layer_versions(MODEL) == before


def test_dry_run_rolls_nothing_out(gw, live, models):
    result, doc = publish(models["v2"], "--alias", "live", "--rollout", "canary", "--dry-run")
    assert result.exit_code == 0, result.output
    assert doc["rollout"] is None and "dry run" in doc["rollout_note"]
    assert _split(gw) == (live, {})


def test_impossible_rollout_values_are_config_errors(gw, live, models, monkeypatch):
    result, _ = publish(models["v2"], "--alias", "live", "--rollout", "linear", "--percent", "0")
    assert result.exit_code == 2 and "percent" in result.stderr
    monkeypatch.setenv("MLAYER_ROLLOUT_MAX_PSI", "lots")
    result, _ = publish(models["v2"], "--alias", "live", "--rollout", "canary")
    assert result.exit_code == 2 and "max_psi" in result.stderr


def test_rollback_during_a_rollout_aborts_it(gw, live, models):
    result, doc = publish(
        models["v2"], "--alias", "live", "--rollout", "canary", "--percent", "30", "--no-wait"
    )
    assert result.exit_code == 0, result.output
    assert _split(gw)[1] == {doc["rollout"]["new_version"]: 0.3}
    result, doc = run_cli("rollback", "--previous", "--alias", "live", "--yes")
    assert result.exit_code == 0, result.output
    assert any("is aborted" in w for w in doc["warnings"])
    assert _split(gw) == (live, {})  # the alias's version already carries the previous model
    saved = gw.get_json(BUCKET, f"rollouts/{FUNCTION}/live.json")
    assert (saved["status"], saved["reason"]) == ("aborted", "aborted by `mlayer rollback`")


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGKILL])
def test_a_cli_stopped_mid_rollout_leaves_the_weights_then_resume_or_abort(
    gw, live, models, monkeypatch, stop, tmp_path
):
    """The CLI is stopped while it watches its first step. That step lasts an hour, so the
    signal always lands inside it, however loaded the machine (a 3.5 s step once ended, judged
    and rolled back before a slow poll saw the state file); resume then runs an hour later by
    its clock, in-process, and must fail the step for want of traffic, never promote blind."""
    for key, value in {
        "INTERVAL": "1h",
        "METRIC_PERIOD": "0.5s",
        "MAX_EXTENSIONS": "0",
        "MIN_RECORDS": "5",
    }.items():
        monkeypatch.setenv(f"MLAYER_ROLLOUT_{key}", value)
    args = publish_args(
        models["v2"], "--yes", "--alias", "live", "--rollout", "linear", "--percent", "50"
    )
    # its output goes to a file: a pipe nobody reads while it runs could fill and block it
    out = (tmp_path / "cli-output.txt").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlayer.cli", "--json", *args],
        stdout=out,
        stderr=out,
        text=True,
        preexec_fn=interruptible,  # Ctrl-C as a terminal delivers it, whatever pytest inherited
    )
    key = f"rollouts/{FUNCTION}/live.json"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if gw.get_json_if_exists(BUCKET, key):
            break
        time.sleep(0.1)
    printed = (tmp_path / "cli-output.txt").read_text
    assert proc.poll() is None, printed()  # still watching its first step
    proc.send_signal(stop)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"the CLI outlived {stop.name} by 60 s; it printed:\n{printed()}")
    finally:
        out.close()
    assert proc.returncode != 0  # it never finished
    state = gw.get_json(BUCKET, key)
    assert (state["status"], state["step"], state["interval_s"]) == ("running", 0, 3600.0)
    assert _split(gw) == (live, {state["new_version"]: 0.5})  # left as they were
    if stop == signal.SIGINT:
        later = functools.partial(rollouts_for, clock=lambda: time.time() + 3600)
        monkeypatch.setattr("mlayer.rollout.commands.rollouts_for", later)
        result, doc = run_cli("rollout", "resume", "--alias", "live")
        assert result.exit_code == 1 and "not enough traffic" in result.stderr  # never blind
        saved = gw.get_json(BUCKET, key)
        assert [h["outcome"] for h in saved["history"]] == ["fail"]
    else:
        result, doc = run_cli("rollout", "abort", "--alias", "live")
        assert result.exit_code == 0 and doc["rollout"]["status"] == "aborted"
    assert _split(gw) == (live, {})
