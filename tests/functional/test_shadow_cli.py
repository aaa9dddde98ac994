"""publish-model --shadow and `mlayer shadow status|promote|stop` through the CLI on the
embedded AWS: what each leaves on the function, in the state file, and in `mlayer status`."""

from __future__ import annotations

import time

import pytest
from publish_support import (
    BUCKET,
    FUNCTION,
    MODEL,
    create_function,
    live_model,
    publish,
    publish_deps,
    run_cli,
    snapshot,
    train_text_pipeline,
)

from mlayer.gateway.metrics import MetricDatum, put_metrics
from mlayer.gateway.views import FunctionConfig
from mlayer.shadow import state


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("shadow-models")
    return {k: train_text_pipeline(root / k, variant=i) for i, k in enumerate(("v1", "v2", "v3"))}


@pytest.fixture
def live(gw, models):
    """The function, its deps, model v1 live (layer version 1)."""
    create_function(gw, [publish_deps(gw)])
    result, doc = publish(models["v1"])
    assert result.exit_code == 0, result.output
    return doc["layer_version_arn"]


def _env(gw) -> dict:
    return state.environment(FunctionConfig.parse(snapshot(gw)))


def test_shadow_attaches_the_candidate_without_relinking(gw, live, models):
    result, doc = publish(models["v2"], "--shadow")
    assert result.exit_code == 0, result.output
    assert live_model(gw) == live  # the live model is untouched
    shadow = doc["shadow"]
    assert shadow["status"] == "active" and shadow["model_version"] == "v2"
    assert shadow["live_model_version"] == "v1" and shadow["classes"] == ["ham", "spam"]
    zip_sha = doc["zip_sha256"]
    assert _env(gw) == {
        **_env(gw),
        state.ENV_LAYER: f"s3://{BUCKET}/layers/{zip_sha}.zip#{zip_sha}",
        state.ENV_SAMPLE: "1",
    }
    assert gw.object_size(BUCKET, f"layers/{zip_sha}.zip") == doc["zipped_size"]
    saved = gw.get_json(BUCKET, f"shadows/{FUNCTION}/shadow.json")
    assert saved["layer_version_arn"] == doc["layer_version_arn"]

    result, doc = run_cli("shadow", "status")
    assert result.exit_code == 0, result.output
    assert doc["attached"] is True and doc["total"]["records_compared"] == 0

    result, doc = run_cli("status")
    assert doc["shadow"]["model_version"] == "v2" and doc["model_label"] == "v1"
    text = run_cli_text("status")
    assert "Shadow: v2 (" in text and "beside v1" in text
    result, doc = run_cli("history")
    assert [(r["version"], r["shadow"], r["live"]) for r in doc["versions"]] == [
        (2, True, False),
        (1, False, True),
    ]
    assert "shadow of mlayer-predict" in run_cli_text("history")


def test_dry_run_publishes_and_attaches_nothing(gw, live, models):
    before = snapshot(gw)
    result, doc = publish(models["v2"], "--shadow", "--dry-run")
    assert result.exit_code == 0, result.output
    assert doc["shadow"] is None and doc["dry_run"] is True
    assert snapshot(gw) == before
    assert len(gw.list_layer_versions(MODEL)) == 1


def test_a_candidate_that_does_not_fit_in_memory_is_refused_with_the_sizes(gw, live, models):
    gw.update_function_configuration(FUNCTION, MemorySize=128)
    # both pipelines are tiny: shrink the memory the check allows by making the live one huge
    import json

    from mlayer.publishing.store import ArtifactStore

    store = ArtifactStore(gw, BUCKET)
    sha = store.layer_sha(live)
    manifest = store.manifest(sha)
    manifest["artifacts"][-1]["size"] = 70 * 1024 * 1024
    gw.put_bytes(BUCKET, f"layers/{sha}.manifest.json", json.dumps(manifest).encode())
    result, _ = publish(models["v2"], "--shadow")
    assert result.exit_code == 1
    assert "does not fit beside the live model in memory" in result.stderr
    assert "128 MB" in result.stderr and "70.0 MB" in result.stderr
    assert len(gw.list_layer_versions(MODEL)) == 1  # nothing published
    assert state.ENV_LAYER not in _env(gw)


def test_status_reads_the_functions_metrics(gw, live, models):
    result, doc = publish(models["v2"], "--shadow")
    assert result.exit_code == 0, result.output
    dims = {"function": FUNCTION, "model_version": "v1", "shadow_version": "v2"}
    now = time.time()
    data = [
        MetricDatum("shadow_batches", dims, 2, timestamp=now),
        MetricDatum("shadow_records", dims, 200, timestamp=now),
        MetricDatum("shadow_agreed", dims, 190, timestamp=now),
        MetricDatum("live_predict_ms", dims, 6.0, timestamp=now),
        MetricDatum("shadow_predict_ms", dims, 8.0, timestamp=now),
        MetricDatum("shadow_dead_letters", {**dims, "reason": "nan"}, 3, timestamp=now),
    ]
    put_metrics(gw, "mlayer", data)
    result, doc = run_cli("shadow", "status")
    assert result.exit_code == 0, result.output
    total = doc["total"]
    assert total["records_compared"] == 200 and total["agreement"] == pytest.approx(0.95)
    assert total["dead_letters"] == {"nan": 3}
    assert (total["live_predict_ms"], total["shadow_predict_ms"]) == (3.0, 4.0)
    # 8 ms for 200 records at 128 MB (moto's default memory) on x86_64
    assert total["extra_usd_per_million"] == pytest.approx(
        0.04 / 1000 * 1e6 * (128 / 1024) * 0.0000166667
    )
    assert sum(w["records_compared"] for w in doc["windows"]) == 200
    result, _ = run_cli("shadow", "status")
    text = run_cli_text("shadow", "status")
    assert "agreement 95.00%" in text and "candidate dead letters: nan 3" in text


def run_cli_text(*args: str) -> str:
    from click.testing import CliRunner

    from mlayer.cli import cli

    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_stop_detaches_and_status_says_so(gw, live, models):
    publish(models["v2"], "--shadow")
    result, doc = run_cli("shadow", "stop", "--yes")
    assert result.exit_code == 0, result.output
    assert doc["shadow"]["status"] == "stopped"
    assert state.ENV_LAYER not in _env(gw) and live_model(gw) == live
    result, doc = run_cli("shadow", "status")
    assert doc["shadow"]["status"] == "stopped" and doc["attached"] is False
    result, _ = run_cli("shadow", "stop", "--yes")
    assert result.exit_code == 2 and "no active shadow" in result.stderr


def test_promote_makes_the_candidate_live_and_detaches_it(gw, live, models):
    _, attached = publish(models["v2"], "--shadow")
    result, doc = run_cli("shadow", "promote", "--yes")
    assert result.exit_code == 0, result.output
    assert doc["shadow"]["status"] == "promoted"
    assert live_model(gw) == attached["layer_version_arn"]
    assert state.ENV_LAYER not in _env(gw)
    result, doc = run_cli("status")
    assert doc["model_label"] == "v2" and doc["shadow"] is None
    result, doc = run_cli("history")
    assert [r["shadow"] for r in doc["versions"]] == [False, False]
    assert doc["live_version"] == 2


def test_promote_with_an_alias_moves_it_to_a_version_without_the_shadow(gw, models):
    create_function(gw, [publish_deps(gw)])
    result, doc = publish(models["v1"], "--alias", "live")
    assert result.exit_code == 0, result.output
    result, attached = publish(models["v2"], "--shadow", "--alias", "live")
    assert result.exit_code == 0, result.output
    with_shadow = attached["function_version"]
    config = gw.function_config(FUNCTION, with_shadow)
    assert state.ENV_LAYER in state.environment(config)
    assert gw.get_alias(FUNCTION, "live")["FunctionVersion"] == with_shadow

    result, doc = run_cli("shadow", "promote", "--yes", "--alias", "live")
    assert result.exit_code == 0, result.output
    version = gw.get_alias(FUNCTION, "live")["FunctionVersion"]
    config = gw.function_config(FUNCTION, version)
    assert version != with_shadow and state.ENV_LAYER not in state.environment(config)
    assert attached["layer_version_arn"] in config.layer_arns


def test_no_live_model_no_shadow(gw, models):
    create_function(gw, [publish_deps(gw)])
    result, _ = publish(models["v2"], "--shadow")
    assert result.exit_code == 2 and "beside a live model" in result.stderr
    assert gw.list_layer_versions(MODEL) == []


def test_promote_by_a_canary_starts_the_rollout_on_a_version_without_the_shadow(gw, models):
    from mlayer.gateway.routing import read_routing

    create_function(gw, [publish_deps(gw)])
    result, doc = publish(models["v1"], "--alias", "live")
    assert result.exit_code == 0, result.output
    old = doc["function_version"]
    result, attached = publish(models["v2"], "--shadow", "--alias", "live")
    assert result.exit_code == 0, result.output
    with_shadow = attached["function_version"]

    args = ("--alias", "live", "--rollout", "canary", "--percent", "20", "--no-wait", "--yes")
    result, doc = run_cli("shadow", "promote", *args)
    assert result.exit_code == 0, result.output
    rollout = doc["relink"]["rollout"]
    assert (rollout["status"], rollout["weight"], rollout["old_version"]) == (
        "running",
        0.2,
        with_shadow,
    )
    new = rollout["new_version"]
    assert new not in (old, with_shadow)
    routing = read_routing(gw, FUNCTION, "live")
    assert (routing.version, dict(routing.weights)) == (with_shadow, {new: 0.2})
    config = gw.function_config(FUNCTION, new)
    assert state.ENV_LAYER not in state.environment(config)
    assert attached["layer_version_arn"] in config.layer_arns
    assert doc["shadow"]["status"] == "promoted"
    result, _ = run_cli("rollout", "abort", "--alias", "live")
    assert result.exit_code == 0, result.output


def test_status_warns_when_the_live_model_changed_under_the_shadow(gw, live, models):
    publish(models["v2"], "--shadow")
    result, doc = publish(models["v3"])  # an ordinary publish relinks the live model
    assert result.exit_code == 0, result.output
    assert state.ENV_LAYER in _env(gw)  # the shadow stays attached
    result, doc = run_cli("shadow", "status")
    assert result.exit_code == 0, result.output
    (warning,) = doc["warnings"]
    assert "The live model is now" in warning and "beside v1" in warning
