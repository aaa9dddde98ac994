"""`mlayer deploy-function` through the CLI against the moto server: create, then nothing to do."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from click.testing import CliRunner

from mlayer.cli import cli
from mlayer.gateway import Gateway

BUCKET, STREAM, DLQ, ON_FAILURE = "artifacts", "input", "dead", "gave-up"
NAME = "scorer"


def zip_bytes(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return buf.getvalue()


@pytest.fixture
def gw(aws):
    return Gateway(region=aws.region, endpoint_url=aws.endpoint_url)


@pytest.fixture
def project(tmp_path, gw):
    """An mlayer.toml, the stream and queues, and one version of each layer."""
    gw.ensure_stream(STREAM)
    gw.ensure_queue(DLQ)
    gw.ensure_queue(ON_FAILURE)
    role = gw.ensure_lambda_role("scorer-role")
    config = tmp_path / "mlayer.toml"
    config.write_text(
        f"""
[function]
name = "{NAME}"
runtime = "python3.12"
architecture = "arm64"
memory = 512
timeout = 30
role = "{role}"

[deps]
layer = "scorer-deps"

[model]
layer = "scorer-model"

[artifacts]
bucket = "{BUCKET}"

[trigger]
stream = "{STREAM}"
batch_size = 50
batching_window = 2
max_retries = 2
max_record_age = 600
on_failure = "sqs://{ON_FAILURE}"

[output]
sink = "dynamodb://predictions"
dead_letter = "sqs://{DLQ}"
"""
    )
    layers = {
        name: gw.publish_layer_version(name, "v", zip_bytes=zip_bytes_of())["LayerVersionArn"]
        for name in ("scorer-deps", "scorer-model")
    }
    return config, layers


def zip_bytes_of() -> bytes:
    return zip_bytes({"python/x.py": "X = 1\n"})


def mlayer(config, *args: str):
    return CliRunner().invoke(cli, ["--config", str(config), *args], catch_exceptions=False)


def mlayer_json(config, *args: str) -> dict:
    result = mlayer(config, "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def mappings(gw) -> list[dict]:
    return gw.client("lambda").list_event_source_mappings()["EventSourceMappings"]


def test_first_run_creates_the_function_its_layers_and_a_finite_trigger(project, gw):
    config, layers = project
    result = mlayer(config, "deploy-function", "--yes")
    assert result.exit_code == 0, result.output
    assert f"Did create function {NAME}" in result.output

    fn = gw.get_function_configuration(NAME)
    assert fn["Handler"] == "handler.handler" and fn["Runtime"] == "python3.12"
    assert fn["Architectures"] == ["arm64"]
    assert (fn["MemorySize"], fn["Timeout"]) == (512, 30)
    assert [layer["Arn"] for layer in fn["Layers"]] == [
        layers["scorer-deps"],
        layers["scorer-model"],
    ]
    assert fn["Environment"]["Variables"] == {
        "MLAYER_OUTPUT_SINK": "dynamodb://predictions",
        "MLAYER_OUTPUT_DEAD_LETTER": f"sqs://{DLQ}",
    }

    (mapping,) = mappings(gw)
    assert mapping["EventSourceArn"] == gw.describe_stream(STREAM)["StreamARN"]
    assert mapping["FunctionArn"] == fn["FunctionArn"]
    assert mapping["BatchSize"] == 50
    assert mapping["MaximumBatchingWindowInSeconds"] == 2
    assert mapping["StartingPosition"] == "LATEST"
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True
    assert mapping["MaximumRetryAttempts"] == 2
    assert mapping["MaximumRecordAgeInSeconds"] == 600
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == gw.queue_arn(ON_FAILURE)


def test_the_code_zip_is_only_the_function_and_is_kept_by_sha256(project, gw):
    config, _ = project
    doc = mlayer_json(config, "deploy-function", "--yes")
    key = f"functions/{doc['code_sha256']}.zip"
    names = zipfile.ZipFile(io.BytesIO(gw.get_bytes(BUCKET, key))).namelist()
    assert "handler.py" in names and "batch.py" in names and "sinks.py" in names
    assert all(n.endswith(".py") and "/" not in n for n in names)


def test_a_second_run_changes_nothing_and_says_so(project, gw):
    config, _ = project
    assert mlayer(config, "deploy-function", "--yes").exit_code == 0
    before = gw.get_function_configuration(NAME)

    result = mlayer(config, "deploy-function")  # no --yes needed: nothing to confirm
    assert result.exit_code == 0, result.output
    assert "Nothing to change" in result.output
    assert mlayer_json(config, "deploy-function")["changed"] is False
    assert len(mappings(gw)) == 1
    assert gw.get_function_configuration(NAME)["CodeSha256"] == before["CodeSha256"]


def test_an_update_changes_only_what_differs_and_keeps_the_live_model_version(project, gw):
    config, layers = project
    assert mlayer(config, "deploy-function", "--yes").exit_code == 0
    deps_v2 = gw.publish_layer_version("scorer-deps", "v2", zip_bytes=zip_bytes_of())
    gw.publish_layer_version("scorer-model", "v2", zip_bytes=zip_bytes_of())  # not live yet
    config.write_text(
        config.read_text()
        .replace("memory = 512", "memory = 1024")
        .replace("max_retries = 2", "max_retries = 5")
    )

    result = mlayer(config, "deploy-function", "--yes")
    assert result.exit_code == 0, result.output
    assert "MemorySize: 512 -> 1024" in result.output
    assert "MaximumRetryAttempts: 2 -> 5" in result.output
    assert "code ->" not in result.output

    fn = gw.get_function_configuration(NAME)
    assert fn["MemorySize"] == 1024
    assert [layer["Arn"] for layer in fn["Layers"]] == [
        deps_v2["LayerVersionArn"],
        layers["scorer-model"],  # publish-model / rollback decide the model version
    ]
    (mapping,) = mappings(gw)
    assert mapping["MaximumRetryAttempts"] == 5
    assert "Nothing to change" in mlayer(config, "deploy-function").output


def test_with_an_alias_the_trigger_targets_the_alias(project, gw):
    config, _ = project
    config.write_text(
        config.read_text().replace(
            'layer = "scorer-model"', 'layer = "scorer-model"\nalias = "live"'
        )
    )

    assert mlayer(config, "deploy-function", "--yes").exit_code == 0
    fn = gw.get_function_configuration(NAME)
    assert gw.get_alias(NAME, "live") is not None
    (mapping,) = mappings(gw)
    alias_version = gw.get_alias(NAME, "live")["FunctionVersion"]
    # AWS answers with the alias ARN; moto 5.2.5 with the version the alias points to.
    assert mapping["FunctionArn"] in (
        f"{fn['FunctionArn']}:live",
        f"{fn['FunctionArn']}:{alias_version}",
    )
    assert "Nothing to change" in mlayer(config, "deploy-function").output


def test_dry_run_shows_the_plan_and_creates_nothing(project, gw):
    config, _ = project
    result = mlayer(config, "deploy-function", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Would create function" in result.output and "Dry run" in result.output
    assert not gw.function_exists(NAME)
    assert mappings(gw) == []


def test_without_a_terminal_or_yes_nothing_is_changed(project, gw):
    config, _ = project
    result = mlayer(config, "deploy-function")
    assert result.exit_code == 2
    assert "--yes" in result.output
    assert not gw.function_exists(NAME)


def test_a_new_function_needs_a_role(project, gw):
    config, _ = project
    text = "\n".join(
        line for line in config.read_text().splitlines() if not line.startswith("role =")
    )
    config.write_text(text)
    result = mlayer(config, "deploy-function", "--yes")
    assert result.exit_code == 2
    assert "role" in result.output
