"""`mlayer deploy-function` through the CLI against the moto server: create, then nothing to do."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from click.testing import CliRunner
from publish_support import fake_zip

from mlayer.cli import cli
from mlayer.local import sandbox

BUCKET, STREAM, DLQ, ON_FAILURE = "artifacts", "input", "dead", "gave-up"
NAME = "scorer"


@pytest.fixture
def project(tmp_path, gw):
    """An mlayer.toml, the stream and queues, and one version of each layer."""
    sandbox.ensure_stream(gw, STREAM)
    sandbox.ensure_queue(gw, DLQ)
    sandbox.ensure_queue(gw, ON_FAILURE)
    role = sandbox.ensure_lambda_role(gw, "scorer-role")
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
    return fake_zip({"python/x.py": "X = 1\n"})


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
    assert fn["Handler"] == "mlayer_function.handler.handler" and fn["Runtime"] == "python3.12"
    assert fn["Architectures"] == ["arm64"]
    assert (fn["MemorySize"], fn["Timeout"]) == (512, 30)
    assert [layer["Arn"] for layer in fn["Layers"]] == [
        layers["scorer-deps"],
        layers["scorer-model"],
    ]
    assert fn["Environment"]["Variables"] == {
        "MLAYER_OUTPUT_SINK": "dynamodb://predictions",
        "MLAYER_OUTPUT_DEAD_LETTER": f"sqs://{DLQ}",
        "MLAYER_DEAD_LETTER_OVERFLOW": f"s3://{BUCKET}/dead-letters/",  # the function reads it
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
    key = f"functions/{doc['code']['sha256']}.zip"
    names = zipfile.ZipFile(io.BytesIO(gw.get_bytes(BUCKET, key))).namelist()
    # One package and nothing at the top of Lambda's path: a user's batch.py is not shadowed.
    assert {"mlayer_function/__init__.py", "mlayer_function/handler.py"} <= set(names)
    assert {"mlayer_function/batch.py", "mlayer_function/sinks.py"} <= set(names)
    sources = [n for n in names if n.endswith(".py")]
    assert all(n.startswith("mlayer_function/") and n.count("/") == 1 for n in sources)
    # Beside them only their bytecode for the runtime (python3.12), where Python looks for it
    # (the sources only where no python3.12 is found: test_code_zip_bytecode.py).
    assert sorted(set(names) - set(sources)) in (
        [],
        sorted(
            f"mlayer_function/__pycache__/{n[len('mlayer_function/') : -3]}.cpython-312.pyc"
            for n in sources
        ),
    )


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


def test_json_output_has_stable_keys_on_create_and_when_nothing_changes(project, gw):
    config, layers = project
    created = mlayer_json(config, "deploy-function", "--yes")
    fn = gw.get_function_configuration(NAME)
    (mapping,) = mappings(gw)
    assert created["action"] == "created" and created["changed"] and created["applied"]
    assert created["function_arn"] == fn["FunctionArn"] and created["alias_arn"] == ""
    assert {c["key"] for c in created["changes"]} >= {"Runtime", "Handler", "Layers", "Role"}
    assert all(c["before"] is None for c in created["changes"])
    trigger = created["trigger"]
    assert (trigger["action"], trigger["uuid"]) == ("created", mapping["UUID"])
    assert trigger["settings"]["MaximumRetryAttempts"] == 2
    assert trigger["settings"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert created["notes"] == []

    again = mlayer_json(config, "deploy-function")
    assert set(again) == set(created)
    assert (again["action"], again["changed"], again["applied"]) == ("unchanged", False, False)
    assert again["function_arn"] == fn["FunctionArn"] and again["changes"] == []
    assert (again["trigger"]["action"], again["trigger"]["uuid"]) == ("unchanged", mapping["UUID"])
    assert again["code"] == {**created["code"], "changed": False}


def test_a_dry_run_of_an_update_changes_nothing(project, gw):
    config, _ = project
    assert mlayer(config, "deploy-function", "--yes").exit_code == 0
    before, (mapping_before,) = gw.get_function_configuration(NAME), mappings(gw)
    config.write_text(
        config.read_text()
        .replace("memory = 512", "memory = 768")
        .replace("batch_size = 50", "batch_size = 20")
    )

    doc = mlayer_json(config, "deploy-function", "--dry-run")
    assert (doc["action"], doc["dry_run"], doc["applied"]) == ("updated", True, False)
    assert [(c["key"], c["before"], c["after"]) for c in doc["changes"]] == [
        ("MemorySize", 512, 768)
    ]
    assert doc["trigger"]["changes"] == [{"key": "BatchSize", "before": 50, "after": 20}]
    after, (mapping_after,) = gw.get_function_configuration(NAME), mappings(gw)
    assert after["MemorySize"] == 512 and after["CodeSha256"] == before["CodeSha256"]
    assert mapping_after["BatchSize"] == mapping_before["BatchSize"] == 50


def test_an_sns_on_failure_destination_is_resolved_and_must_exist(project, gw):
    config, _ = project
    topic = gw.client("sns").create_topic(Name="ops")["TopicArn"]
    config.write_text(config.read_text().replace(f"sqs://{ON_FAILURE}", "sns://ops"))
    doc = mlayer_json(config, "deploy-function", "--yes")
    assert doc["trigger"]["settings"]["DestinationConfig"] == {"OnFailure": {"Destination": topic}}
    (mapping,) = mappings(gw)
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == topic

    config.write_text(config.read_text().replace("sns://ops", "sns://opz"))
    result = mlayer(config, "deploy-function", "--dry-run")
    assert result.exit_code == 1 and "Reading topic opz: not found" in result.output


def test_missing_layers_are_named_in_the_plan(project, gw):
    config, _ = project
    config.write_text(
        config.read_text()
        .replace('layer = "scorer-deps"', 'layer = "other-deps"')
        .replace('layer = "scorer-model"', 'layer = "other-model"')
    )
    result = mlayer(config, "deploy-function", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "note: no dependencies layer other-deps is published" in result.output
    assert "note: no model layer other-model yet" in result.output


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


def test_a_role_that_does_not_exist_is_explained(project, gw):
    config, _ = project
    absent = "arn:aws:iam::123456789012:role/no-such-role"
    result = mlayer(config, "deploy-function", "--role", absent, "--yes")
    assert result.exit_code == 1
    assert "InvalidParameterValueException" in result.stderr
    assert "Hint: Check [function] role" in result.stderr
    assert not gw.function_exists(NAME)


def test_a_role_that_is_not_an_arn_is_refused_before_any_call(project, gw):
    config, _ = project
    result = mlayer(config, "deploy-function", "--role", "scorer-role", "--yes")
    assert result.exit_code == 2
    assert "function.role" in result.stderr and "Hint:" in result.stderr
    assert not gw.function_exists(NAME)


def test_snapstart_without_an_alias_is_a_config_error_before_any_call(project, gw):
    config, _ = project
    config.write_text(config.read_text().replace("timeout = 30", "timeout = 30\nsnapstart = true"))
    result = mlayer(config, "deploy-function", "--yes")
    assert result.exit_code == 2
    assert "function.snapstart" in result.stderr and "[model] alias" in result.stderr
    assert not gw.function_exists(NAME)


def test_provisioned_concurrency_from_the_environment_needs_an_alias(project, gw, monkeypatch):
    config, _ = project
    monkeypatch.setenv("MLAYER_FUNCTION_PROVISIONED_CONCURRENCY", "2")
    result = mlayer(config, "deploy-function", "--yes")
    assert result.exit_code == 2
    assert "MLAYER_FUNCTION_PROVISIONED_CONCURRENCY" in result.stderr
    assert not gw.function_exists(NAME)


def test_snapstart_is_sent_and_the_alias_serves_a_published_version(project, gw):
    """The embedded AWS accepts SnapStart but reports ApplyOn None (test_deploy_stubber.py
    checks the request against Lambda's model): here, the alias on a published version."""
    config, _ = project
    config.write_text(
        config.read_text()
        .replace("timeout = 30", "timeout = 30\nsnapstart = true")
        .replace('layer = "scorer-model"', 'layer = "scorer-model"\nalias = "live"')
    )
    doc = mlayer_json(config, "deploy-function", "--yes")
    assert doc["configuration"]["SnapStart"] == "PublishedVersions"
    assert doc["alias"]["action"] == "created" and doc["alias"]["name"] == "live"
    version = gw.get_alias(NAME, "live")["FunctionVersion"]
    assert version != "$LATEST"
    published = gw.get_function_configuration(NAME, qualifier=version)
    assert published["CodeSha256"] == gw.get_function_configuration(NAME)["CodeSha256"]


def test_the_flags_override_the_file_and_are_checked_as_the_keys_are(project, gw):
    config, _ = project
    result = mlayer(config, "deploy-function", "--provisioned-concurrency", "2", "--yes")
    assert result.exit_code == 2 and "function.provisioned_concurrency" in result.stderr
    result = mlayer(config, "deploy-function", "--snapstart", "--runtime", "python3.11", "--yes")
    assert result.exit_code == 2 and "function.snapstart" in result.stderr
    assert not gw.function_exists(NAME)
    config.write_text(
        config.read_text().replace(
            'layer = "scorer-model"', 'layer = "scorer-model"\nalias = "live"'
        )
    )
    doc = mlayer_json(config, "deploy-function", "--snapstart", "--dry-run")
    assert doc["configuration"]["SnapStart"] == "PublishedVersions"
    assert (
        "SnapStart"
        not in mlayer_json(config, "deploy-function", "--no-snapstart", "--dry-run")[
            "configuration"
        ]
    )
