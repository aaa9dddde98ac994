"""Another account's layer on the function (issue 12 point 4): status, publish-model, rollback
and history through the CLI, every request checked against botocore's service model.

The embedded AWS cannot hold a foreign layer on a function; tests/foreign_layers.py plays that
part of AWS on the wire. Reading that layer is what the embedded AWS lacks (no
GetLayerVersionByArn): its size counts as unknown, with a warning, and it stays first.
"""

from __future__ import annotations

import boto3
import pytest
import strict_requests
from foreign_layers import INSIGHTS, INSIGHTS_ZIPPED, ForeignLayer
from publish_support import (
    FUNCTION,
    create_function,
    fake_zip,
    foreign_layer,
    publish,
    publish_deps,
    run_cli,
    snapshot,
    train_text_pipeline,
)


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("foreign-models")
    return {f"v{i}": train_text_pipeline(root / f"v{i}", variant=i) for i in (1, 2)}


@pytest.fixture
def insights(aws, monkeypatch):
    """Every session made from now on (the CLI's, the test's gateway) sees the function carry
    AWS's Lambda Insights layer first, and checks its requests as AWS would."""
    shim = ForeignLayer(FUNCTION)

    class Session(boto3.session.Session):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            shim.install(self.events)
            strict_requests.install(self.events)

    monkeypatch.setattr(boto3.session, "Session", Session)
    return shim


@pytest.fixture
def carrying(insights, gw, models):
    """The function with [Insights, tools, deps] and model versions 1, 2 (2 live)."""
    deps = publish_deps(gw)
    tools = foreign_layer(gw, "tools")
    create_function(gw, [INSIGHTS, tools, deps])
    arns = []
    for key in ("v1", "v2"):
        result, doc = publish(models[key])
        assert result.exit_code == 0, result.output
        arns.append(doc["layer_version_arn"])
    return {"deps": deps, "tools": tools, "arns": arns}


def layers(gw):
    return [ly["Arn"] for ly in snapshot(gw)["Layers"]]


def test_publish_keeps_the_foreign_layer_first_and_counts_its_size_unknown(gw, carrying, insights):
    assert layers(gw) == [INSIGHTS, carrying["tools"], carrying["deps"], carrying["arns"][1]]
    assert len(insights.sent) == 3  # created, then two relinks: each sent it at its place
    assert all(sent[0] == INSIGHTS for sent in insights.sent)


def test_publish_plan_names_the_unknown_size(gw, insights, models):
    deps = publish_deps(gw)
    create_function(gw, [INSIGHTS, deps])
    result, doc = publish(models["v1"])
    assert result.exit_code == 0, result.output
    assert doc["plan"]["unknown_sizes"] == [INSIGHTS] and not doc["plan"]["sizes_exact"]
    assert doc["plan"]["after"] == [INSIGHTS, deps, doc["layer_version_arn"]]
    assert layers(gw) == doc["plan"]["after"]


def test_status_shows_the_foreign_layer_with_an_unknown_size(gw, carrying):
    result, doc = run_cli("status")
    assert result.exit_code == 0, result.output
    first = doc["layers"][0]
    assert first["arn"] == INSIGHTS and first["role"] == "other" and not first["size_known"]
    assert first["zipped_size"] == INSIGHTS_ZIPPED and first["unzipped_size"] == 0
    assert [ly["role"] for ly in doc["layers"]] == ["other", "other", "deps", "model"]
    assert doc["unknown_sizes"] == [INSIGHTS]
    assert "580247275435" in doc["warnings"][0] and "counts it as 0" in doc["warnings"][0]
    assert doc["model_version"] == 2
    from click.testing import CliRunner

    from mlayer.cli import cli

    text = CliRunner().invoke(cli, ["status"])
    assert text.exit_code == 0 and "unknown" in text.stdout
    assert "Warning: The size of " + INSIGHTS in text.stderr


def test_rollback_keeps_the_foreign_layer_in_place(gw, carrying, insights):
    result, doc = run_cli("rollback", "--previous", "--yes")
    assert result.exit_code == 0, result.output
    assert layers(gw) == [INSIGHTS, carrying["tools"], carrying["deps"], carrying["arns"][0]]
    assert insights.sent[-1] == layers(gw)
    assert doc["plan"]["unknown_sizes"] == [INSIGHTS]
    assert any(INSIGHTS in w for w in doc["warnings"])


def test_rollback_with_an_alias_through_the_foreign_layer(gw, carrying):
    result, doc = run_cli("rollback", "--version", "1", "--alias", "live", "--yes")
    assert result.exit_code == 0, result.output
    on_alias = gw.get_function_configuration(FUNCTION, "live")["Layers"]
    assert [ly["Arn"] for ly in on_alias][0] == INSIGHTS


def test_history_works_and_warns_of_the_unknown_size(gw, carrying):
    result, doc = run_cli("history")
    assert result.exit_code == 0, result.output
    assert [r["live"] for r in doc["versions"]] == [True, False]
    assert any(INSIGHTS in w for w in doc["warnings"])


def test_a_same_named_layer_of_ones_own_never_lends_its_size(gw, carrying):
    """Version 38 of an own layer named LambdaInsightsExtension is another layer."""
    data = fake_zip({"python/big.txt": b"x" * 50_000})
    for _ in range(38):
        own = gw.publish_layer_version("LambdaInsightsExtension", "mine", zip_bytes=data)
    assert own["LayerVersionArn"].endswith(":123456789012:layer:LambdaInsightsExtension:38")
    doc = run_cli("status")[1]
    assert doc["layers"][0]["arn"] == INSIGHTS and not doc["layers"][0]["size_known"]
    assert doc["layers"][0]["unzipped_size"] == 0
