"""`mlayer policy`, `deploy-function --create-role` and status's view of a given role, through
the CLI against the moto server (IAM not enforced here: tests/functional/test_iam_enforced.py)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from publish_support import fake_zip

from mlayer.cli import cli
from mlayer.local import sandbox

BUCKET, STREAM, DLQ = "artifacts", "input", "dead"
NAME = "scorer"
CONFIG = """
[function]
name = "{name}"
role = "{role}"

[deps]
layer = "scorer-deps"

[model]
layer = "scorer-model"
store = "layer"

[artifacts]
bucket = "{bucket}"

[trigger]
stream = "{stream}"

[output]
sink = "{sink}"
dead_letter = "sqs://{dlq}"
"""


def write_config(path, *, role: str = "create", sink: str = "dynamodb://predictions"):
    path.write_text(
        CONFIG.format(name=NAME, role=role, bucket=BUCKET, stream=STREAM, sink=sink, dlq=DLQ)
    )
    return path


@pytest.fixture
def project(tmp_path, gw):
    sandbox.ensure_stream(gw, STREAM)
    sandbox.ensure_queue(gw, DLQ)
    for name in ("scorer-deps", "scorer-model"):
        gw.publish_layer_version(name, "v", zip_bytes=fake_zip({"python/x.py": "X = 1\n"}))
    return write_config(tmp_path / "mlayer.toml")


def mlayer(config, *args: str):
    return CliRunner().invoke(cli, ["--config", str(config), *args], catch_exceptions=False)


def mlayer_json(config, *args: str) -> dict:
    result = mlayer(config, "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def inline_policy(gw, role: str) -> dict:
    return gw.get_role_policy(role, "mlayer")


def test_policy_prints_the_documents_ready_for_iam(project, gw):
    account = gw.account_id()
    fn = mlayer_json(project, "policy", "--function")
    assert fn["Version"] == "2012-10-17"
    by_sid = {s["Sid"]: s for s in fn["Statement"]}
    assert by_sid["WriteResults"]["Resource"] == (
        f"arn:aws:dynamodb:us-east-1:{account}:table/predictions"
    )
    text = mlayer(project, "policy", "--function").output
    assert json.loads(text) == fn  # the text is the same JSON
    dep = mlayer_json(project, "policy", "--deployer")
    assert {s["Sid"] for s in dep["Statement"]} >= {"Function", "Layers", "PassRole", "ManageRole"}
    offline = mlayer_json(project, "policy", "--deployer", "--account", "210987654321")
    assert "arn:aws:iam::210987654321:role/mlayer-scorer" in json.dumps(offline)


def test_create_role_creates_then_keeps_then_follows_the_configuration(project, gw, tmp_path):
    dry = mlayer(project, "deploy-function", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "Would create role mlayer-scorer (trusting Lambda) with policy mlayer:" in dry.output
    assert "+ WriteResults: dynamodb:BatchWriteItem on" in dry.output
    assert gw.get_role("mlayer-scorer") is None  # a dry run writes nothing

    assert mlayer(project, "deploy-function", "--yes").exit_code == 0
    role = gw.get_role("mlayer-scorer")
    assert role["Trust"]["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert gw.get_function_configuration(NAME)["Role"] == role["Arn"]
    assert inline_policy(gw, "mlayer-scorer") == mlayer_json(project, "policy", "--function")

    again = mlayer_json(project, "deploy-function")
    assert again["changed"] is False and again["role"]["changes"] == []

    write_config(project, sink="sqs://results")
    sandbox.ensure_queue(gw, "results")
    diff = mlayer_json(project, "deploy-function", "--dry-run")
    (change,) = diff["role"]["changes"]
    assert change["sid"] == "WriteResults"
    assert change["before"]["Action"] == "dynamodb:BatchWriteItem"
    assert change["after"]["Action"] == ["sqs:GetQueueUrl", "sqs:SendMessage"]
    assert mlayer(project, "deploy-function", "--yes").exit_code == 0
    live = json.dumps(inline_policy(gw, "mlayer-scorer"))
    assert "sqs:SendMessage" in live and "dynamodb" not in live  # the old statement is gone


def test_create_role_flag_overrides_a_configured_role(project, gw):
    given = sandbox.ensure_lambda_role(gw, "theirs")
    write_config(project, role=given)
    doc = mlayer_json(project, "deploy-function", "--create-role", "--dry-run")
    assert doc["role"]["create"] is True and doc["role"]["name"] == "mlayer-scorer"


def test_status_lists_what_a_given_role_lacks(project, gw):
    given = sandbox.ensure_lambda_role(gw, "theirs")
    write_config(project, role=given)
    assert mlayer(project, "deploy-function", "--yes").exit_code == 0
    gw.put_role_policy(
        "theirs",
        "partial",
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": ["logs:*", "kinesis:*"], "Resource": "*"},
                {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"},
                {"Effect": "Deny", "Action": "sqs:*", "Resource": "*"},
            ],
        },
    )
    status = mlayer_json(project, "status")
    lacking = {(m["sid"], m["action"], m["decision"]) for m in status["role_missing"]}
    assert lacking == {
        ("WriteResults", "dynamodb:BatchWriteItem", "implicit"),
        ("WriteDeadLetters", "sqs:GetQueueUrl", "deny"),
        ("WriteDeadLetters", "sqs:SendMessage", "deny"),
    }
    assert "The role lacks what this configuration needs" in mlayer(project, "status").output
    assert gw.get_role_policy("theirs", "mlayer") is None  # a given role is never written

    gw.put_role_policy("theirs", "partial", mlayer_json(project, "policy", "--function"))
    assert mlayer_json(project, "status")["role_missing"] == []


def test_policy_comes_before_the_resources_exist(tmp_path, gw):
    config = write_config(tmp_path / "mlayer.toml")  # no stream, queue or bucket yet
    doc = mlayer_json(config, "policy", "--function")
    assert "ReadTriggerStream" in {s["Sid"] for s in doc["Statement"]}
