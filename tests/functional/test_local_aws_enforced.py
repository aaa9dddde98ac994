"""`mlayer local-aws --enforce-iam`: a deployer holding exactly `mlayer policy --deployer`, and
an emulated function that runs with credentials from sts:AssumeRole on its own role."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from iam_support import create_scorer

from mlayer.cli import cli
from mlayer.config import load_settings
from mlayer.errors import AwsError
from mlayer.gateway import Gateway
from mlayer.gateway.kinesis_records import StreamRecord, put_records
from mlayer.local.aws import embedded_aws
from mlayer.local.enforced import set_up
from mlayer.local.environment import function_aws_env

pytestmark = pytest.mark.slow  # moto's server in its own process
REPO = Path(__file__).resolve().parents[2]
RUNTIME = "python{}.{}".format(*sys.version_info[:2])

CONFIG = """
[function]
name = "scorer"
role = "create"

[artifacts]
bucket = "acme-artifacts"

[output]
sink = "s3://acme-results/predictions"
"""


def test_local_aws_enforce_iam_prints_the_deployer_and_lambdas_stand_in(tmp_path):
    (tmp_path / "mlayer.toml").write_text(CONFIG)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlayer.cli", "--json", "local-aws", "--enforce-iam"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        text = ""
        for line in proc.stdout:
            text += line
            if line.startswith("}"):
                break
        doc = json.loads(text)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    env = doc["env"]
    assert "AWS_SESSION_TOKEN" not in env
    assert env["AWS_ACCESS_KEY_ID"] != doc["administrator"]["AWS_ACCESS_KEY_ID"]
    assert {"MLAYER_LAMBDA_ACCESS_KEY_ID", "MLAYER_LAMBDA_SECRET_ACCESS_KEY"} <= set(env)
    role = "arn:aws:iam::123456789012:role/mlayer-scorer"
    assert {"Sid": "PassRole", "Effect": "Allow", "Action": "iam:PassRole", "Resource": role} in (
        doc["deployer_policy"]["Statement"]
    )


def test_the_deployer_holds_its_policy_and_the_function_its_role(tmp_path, monkeypatch):
    config = tmp_path / "mlayer.toml"
    config.write_text(CONFIG)
    with embedded_aws(enforce_iam=True) as local:
        principals = set_up(local, load_settings(str(config)))
        env = principals.env(local)
        run = CliRunner().invoke(
            cli,
            ["--config", str(config), "--json", "policy", "--deployer"],
            env={**env, "AWS_SESSION_TOKEN": None},
        )
        assert run.exit_code == 0, run.output
        assert json.loads(run.stdout) == principals.deployer_policy

        admin = Gateway(region=local.region, endpoint_url=local.endpoint_url).with_keys(
            principals.administrator["AWS_ACCESS_KEY_ID"],
            principals.administrator["AWS_SECRET_ACCESS_KEY"],
        )
        admin.ensure_bucket("acme-results")
        arn = admin.create_lambda_role("mlayer-scorer", "test")
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "s3:PutObject",
                    "Resource": "arn:aws:s3:::acme-results/predictions/*",
                }
            ],
        }
        admin.put_role_policy("mlayer-scorer", "mlayer", policy)

        deployer = admin.with_keys(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"])
        with pytest.raises(AwsError, match="AccessDenied"):  # the deployer cannot be the function
            deployer.assume_role(arn, "deployer")
        for key in ("MLAYER_LAMBDA_ACCESS_KEY_ID", "MLAYER_LAMBDA_SECRET_ACCESS_KEY"):
            monkeypatch.setenv(key, env[key])
        fn_env = function_aws_env(deployer, arn)  # what the emulation gives the function
        assert (
            fn_env["AWS_SESSION_TOKEN"] and fn_env["AWS_ACCESS_KEY_ID"] != env["AWS_ACCESS_KEY_ID"]
        )
        fn = admin.with_keys(
            fn_env["AWS_ACCESS_KEY_ID"],
            fn_env["AWS_SECRET_ACCESS_KEY"],
            fn_env["AWS_SESSION_TOKEN"],
        )
        fn.put_bytes("acme-results", "predictions/a.jsonl", b"{}\n")  # its role allows this
        with pytest.raises(AwsError, match="AccessDenied|403"):
            fn.put_bytes("acme-results", "elsewhere/a.jsonl", b"{}\n")  # and nothing else


WRITER = textwrap.dedent("""
    import boto3

    def handler(event, context):
        s3, out = boto3.client("s3"), {}
        for key in ("allowed/x.jsonl", "elsewhere/x.jsonl"):
            try:
                s3.put_object(Bucket="acme-results", Key=key, Body=b"{}\\n")
                out[key] = "written"
            except Exception as exc:
                out[key] = type(exc).__name__ + ": " + str(exc)[:200]
        return out
""")


def test_the_emulated_function_runs_with_its_roles_credentials(tmp_path):
    """invoke --local as the deployer: the function's boto3 gets sts:AssumeRole credentials of
    its execution role (not the deployer's), so what the role lacks is refused in the function."""
    config = tmp_path / "mlayer.toml"
    config.write_text(CONFIG.replace('role = "create"', f'role = "create"\nruntime = "{RUNTIME}"'))
    with embedded_aws(enforce_iam=True) as local:
        principals = set_up(local, load_settings(str(config)))
        admin = Gateway(region=local.region, endpoint_url=local.endpoint_url).with_keys(
            principals.administrator["AWS_ACCESS_KEY_ID"],
            principals.administrator["AWS_SECRET_ACCESS_KEY"],
        )
        for bucket in ("acme-artifacts", "acme-results"):
            admin.ensure_bucket(bucket)
        role = admin.create_lambda_role("mlayer-scorer", "test")
        allowed = "arn:aws:s3:::acme-results/allowed/*"
        admin.put_role_policy(
            "mlayer-scorer",
            "mlayer",
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": allowed}],
            },
        )
        create_scorer(admin, role, "writer", WRITER)
        event = tmp_path / "event.json"
        event.write_text(json.dumps({"Records": []}))
        env = {**principals.env(local), "AWS_SESSION_TOKEN": None}
        env["MLAYER_CACHE_DIR"] = os.environ.get("MLAYER_CACHE_DIR") or str(
            REPO / ".cache" / "mlayer"
        )
        run = CliRunner().invoke(
            cli,
            ["--config", str(config), "--json", "invoke", "--local", "--event", str(event)],
            env=env,
        )
        assert run.exit_code == 0, run.output
        response = json.loads(run.stdout)["response"]
        assert response["allowed/x.jsonl"] == "written"
        assert response["elsewhere/x.jsonl"].startswith(
            "AccessDenied: An error occurred (AccessDenied)"
        )
        # and the write that succeeded was the role's: the deployer's own keys may not write there
        deployer = admin.with_keys(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"])
        with pytest.raises(AwsError, match="AccessDenied|403"):
            deployer.put_bytes("acme-results", "allowed/y.jsonl", b"{}\n")


COUNTER = "def handler(event, context):\n    return {'records': len(event.get('Records', []))}\n"


@pytest.mark.parametrize("reads", [True, False])
def test_poll_local_reads_the_stream_with_the_functions_role(tmp_path, reads):
    """As an event-source mapping does: the deployer's keys never read the stream; the role's
    do, so a role without the stream's reads fails the poll with AccessDenied, named."""
    from mlayer.local import sandbox
    from mlayer.policy import Arns, function_policy
    from mlayer.policy.document import without

    config = tmp_path / "mlayer.toml"
    config.write_text(
        CONFIG.replace('role = "create"', f'role = "create"\nruntime = "{RUNTIME}"')
        + '\n[trigger]\nstream = "events"\nstarting_position = "TRIM_HORIZON"\n'
    )
    settings = load_settings(str(config))
    with embedded_aws(enforce_iam=True) as local:
        principals = set_up(local, settings)
        admin = Gateway(region=local.region, endpoint_url=local.endpoint_url).with_keys(
            principals.administrator["AWS_ACCESS_KEY_ID"],
            principals.administrator["AWS_SECRET_ACCESS_KEY"],
        )
        admin.ensure_bucket("acme-artifacts")
        sandbox.ensure_stream(admin, "events")
        put_records(admin, "events", [StreamRecord(b'{"id": "a"}', "1") for _ in range(3)])
        policy = function_policy(settings, Arns(admin.account_id(), admin.region))
        role = admin.create_lambda_role("mlayer-scorer", "test")
        admin.put_role_policy(
            "mlayer-scorer", "mlayer", policy if reads else without(policy, "ReadTriggerStream")
        )
        create_scorer(admin, role, "counter", COUNTER)
        env = {**principals.env(local), "AWS_SESSION_TOKEN": None}
        env["MLAYER_CACHE_DIR"] = os.environ.get("MLAYER_CACHE_DIR") or str(
            REPO / ".cache" / "mlayer"
        )
        run = CliRunner().invoke(
            cli, ["--config", str(config), "poll", "--local", "--until-empty"], env=env
        )
    if reads:
        assert run.exit_code == 0, run.output
    else:
        assert run.exit_code == 1
        assert "not authorized to perform: kinesis:" in run.output
        assert "assumed-role/mlayer-scorer" in run.output


@pytest.mark.parametrize("granted", [True, False])
def test_an_encrypted_streams_key_is_needed_to_read_it(tmp_path, granted):
    """An SSE-KMS stream (its key given by id, as a user may): `mlayer policy --function`
    grants kms:Decrypt on that key's ARN only (UseKeyTrigger), and without that statement
    poll --local's reads with the function's role are refused kms:Decrypt, as on AWS (moto
    never uses the key: local/iam_enforcement.py asks for the action on it)."""
    from mlayer.local import sandbox
    from mlayer.policy.document import without

    config = tmp_path / "mlayer.toml"
    config.write_text(
        CONFIG.replace('role = "create"', f'role = "create"\nruntime = "{RUNTIME}"')
        + '\n[trigger]\nstream = "sealed"\nstarting_position = "TRIM_HORIZON"\n'
    )
    with embedded_aws(enforce_iam=True) as local:
        principals = set_up(local, load_settings(str(config)))
        admin = Gateway(region=local.region, endpoint_url=local.endpoint_url).with_keys(
            principals.administrator["AWS_ACCESS_KEY_ID"],
            principals.administrator["AWS_SECRET_ACCESS_KEY"],
        )
        admin.ensure_bucket("acme-artifacts")
        key = admin.call("kms", "create_key", "Creating a key")["KeyMetadata"]
        sandbox.ensure_stream(admin, "sealed")
        admin.call(
            "kinesis",
            "start_stream_encryption",
            "Encrypting the stream",
            StreamName="sealed",
            EncryptionType="KMS",
            KeyId=key["KeyId"],
        )
        put_records(admin, "sealed", [StreamRecord(b'{"id": "a"}', "1") for _ in range(3)])
        env = {**principals.env(local), "AWS_SESSION_TOKEN": None}
        env["MLAYER_CACHE_DIR"] = os.environ.get("MLAYER_CACHE_DIR") or str(
            REPO / ".cache" / "mlayer"
        )
        run = CliRunner().invoke(
            cli, ["--config", str(config), "--json", "policy", "--function"], env=env
        )
        assert run.exit_code == 0, run.output
        policy = json.loads(run.stdout)
        (use,) = [s for s in policy["Statement"] if s["Sid"] == "UseKeyTrigger"]
        assert (use["Action"], use["Resource"]) == ("kms:Decrypt", key["Arn"])
        role = admin.create_lambda_role("mlayer-scorer", "test")
        admin.put_role_policy(
            "mlayer-scorer", "mlayer", policy if granted else without(policy, "UseKeyTrigger")
        )
        create_scorer(admin, role, "counter", COUNTER)
        run = CliRunner().invoke(
            cli, ["--config", str(config), "poll", "--local", "--until-empty"], env=env
        )
    if granted:
        assert run.exit_code == 0, run.output
    else:
        assert run.exit_code == 1, run.output
        assert "not authorized to perform: kms:Decrypt" in run.output
        assert "assumed-role/mlayer-scorer" in run.output
