"""A trigger stream encrypted with a KMS alias, on the embedded AWS with IAM enforced: the
function's generated policy names the alias's key ARN, on which IAM authorizes kms:Decrypt (a
statement on the alias's ARN matches nothing, as the first poll shows), poll --local then reads
the stream with the role, and a deleted alias is refused named instead of granted ``*``.

The deployer's TriggerStreamKey is shown needed (without it, kms:DescribeKey is refused) and
enough (with it, the deployer reads the key the alias names): the enforced embedded AWS
authorizes a KMS request on the key it names, an alias resolved to its key, as AWS does."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from iam_support import create_scorer

from mlayer.cli import cli
from mlayer.config import load_settings
from mlayer.gateway import Gateway
from mlayer.gateway.kinesis_records import StreamRecord, put_records
from mlayer.local import sandbox
from mlayer.local.aws import embedded_aws
from mlayer.local.enforced import set_up

pytestmark = pytest.mark.slow  # moto's server in its own process
REPO = Path(__file__).resolve().parents[2]
RUNTIME = "python{}.{}".format(*sys.version_info[:2])
ALIAS = "alias/records"
CONFIG = f"""
[function]
name = "scorer"
role = "create"
runtime = "{RUNTIME}"

[artifacts]
bucket = "acme-artifacts"

[output]
sink = "s3://acme-results/predictions"

[trigger]
stream = "sealed"
starting_position = "TRIM_HORIZON"
"""
COUNTER = "def handler(event, context):\n    return {'records': len(event.get('Records', []))}\n"


def _mlayer(config: Path, env: dict, *args: str):
    return CliRunner().invoke(cli, ["--config", str(config), *args], env=env)


def _with_key_statement(policy: dict, resource: str) -> dict:
    """``policy`` with UseKeyTrigger on ``resource`` instead (what mlayer wrote before)."""
    statements = [
        {**s, "Resource": resource} if s["Sid"] == "UseKeyTrigger" else s
        for s in policy["Statement"]
    ]
    return {**policy, "Statement": statements}


def test_an_alias_encrypted_stream_is_granted_on_its_keys_arn(tmp_path):
    config = tmp_path / "mlayer.toml"
    config.write_text(CONFIG)
    with embedded_aws(enforce_iam=True) as local:
        principals = set_up(local, load_settings(str(config)))
        admin_keys = principals.administrator
        admin = Gateway(region=local.region, endpoint_url=local.endpoint_url).with_keys(
            admin_keys["AWS_ACCESS_KEY_ID"], admin_keys["AWS_SECRET_ACCESS_KEY"]
        )
        admin.ensure_bucket("acme-artifacts")
        key = admin.call("kms", "create_key", "Creating a key")["KeyMetadata"]
        admin.call(
            "kms", "create_alias", "Naming the key", AliasName=ALIAS, TargetKeyId=key["KeyId"]
        )
        sandbox.ensure_stream(admin, "sealed")
        admin.call(
            "kinesis",
            "start_stream_encryption",
            "Encrypting the stream",
            StreamName="sealed",
            EncryptionType="KMS",
            KeyId=ALIAS,
        )
        put_records(admin, "sealed", [StreamRecord(b'{"id": "a"}', "1") for _ in range(3)])
        deployer = {**principals.env(local), "AWS_SESSION_TOKEN": None}
        deployer["MLAYER_CACHE_DIR"] = os.environ.get("MLAYER_CACHE_DIR") or str(
            REPO / ".cache" / "mlayer"
        )
        administrator = {
            **deployer,
            **{k: admin_keys[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")},
        }

        run = _mlayer(config, administrator, "--json", "policy", "--function")
        assert run.exit_code == 0, run.output
        policy = json.loads(run.stdout)
        (use,) = [s for s in policy["Statement"] if s["Sid"] == "UseKeyTrigger"]
        assert (use["Action"], use["Resource"]) == ("kms:Decrypt", key["Arn"])
        assert "alias" not in json.dumps(policy)
        # the deployer reads the key the alias names: without TriggerStreamKey (set_up's
        # policy, made before the stream), refused kms:DescribeKey, named
        unkeyed = _mlayer(config, deployer, "policy", "--function")
        assert unkeyed.exit_code == 1, unkeyed.output
        assert "kms:DescribeKey" in unkeyed.output and "Hint:" in unkeyed.output
        run = _mlayer(config, administrator, "--json", "policy", "--deployer")
        assert run.exit_code == 0, run.output
        (describe,) = [
            s for s in json.loads(run.stdout)["Statement"] if s["Sid"] == "TriggerStreamKey"
        ]
        assert (describe["Action"], describe["Resource"]) == ("kms:DescribeKey", key["Arn"])
        # granted exactly that policy, the deployer reads the key on its ARN and gets the policy
        sandbox.set_user_policy(admin, "deployer", json.loads(run.stdout))
        keyed = _mlayer(config, deployer, "--json", "policy", "--function")
        assert keyed.exit_code == 0, keyed.output
        assert json.loads(keyed.stdout) == policy

        role = admin.create_lambda_role("mlayer-scorer", "test")
        alias_arn = f"arn:aws:kms:{local.region}:{admin.account_id()}:{ALIAS}"
        admin.put_role_policy("mlayer-scorer", "mlayer", _with_key_statement(policy, alias_arn))
        create_scorer(admin, role, "counter", COUNTER)
        on_alias = _mlayer(config, deployer, "poll", "--local", "--until-empty")
        admin.put_role_policy("mlayer-scorer", "mlayer", policy)
        on_key = _mlayer(config, deployer, "--json", "poll", "--local", "--until-empty")

        admin.call("kms", "delete_alias", "Deleting the alias", AliasName=ALIAS)
        gone = _mlayer(config, administrator, "policy", "--function")
    # the alias's ARN in Resource grants nothing: the role's reads are refused kms:Decrypt
    assert on_alias.exit_code == 1, on_alias.output
    assert "not authorized to perform: kms:Decrypt" in on_alias.output
    assert "assumed-role/mlayer-scorer" in on_alias.output
    # the key's ARN, as generated: the stream is read with the role
    assert on_key.exit_code == 0, on_key.output
    read = json.loads(on_key.stdout)
    assert (read["records"], read["succeeded"], read["failure_records"]) == (3, 3, [])
    # a deleted alias: named, with a hint, and no policy printed
    assert gone.exit_code == 1, gone.output
    assert f"KMS alias {ALIAS}" in gone.output and "Hint:" in gone.output
    assert "Statement" not in gone.output
