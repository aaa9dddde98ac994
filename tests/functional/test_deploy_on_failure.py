"""Issue 11 end to end: a trigger deployed with no `[trigger] on_failure` and no SQS dead-letter
queue still records what Lambda gives up on, in the artifact bucket, and `poll --local` writes
the on-failure record there as the mapping says.

deploy-function makes the mapping; the function's code is then swapped for a handler that fails
on a poison record (mlayer's own handler dead-letters bad records instead of failing), so the
mapping gives that record up.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from publish_support import fake_zip

from mlayer.cli import cli
from mlayer.gateway.kinesis_records import StreamRecord, put_records
from mlayer.local import sandbox

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
RUNTIME = "python{}.{}".format(*sys.version_info[:2])
BUCKET, NAME, STREAM = "artifacts", "scorer", "events"

POISONED = textwrap.dedent("""
    import base64, json

    def handler(event, context):
        for r in event.get("Records", []):
            if json.loads(base64.b64decode(r["kinesis"]["data"])).get("poison"):
                raise ValueError("poison record " + r["eventID"])
        return {"batchItemFailures": []}
""")


def mlayer(config: Path, *args: str):
    return CliRunner().invoke(cli, ["--config", str(config), *args], catch_exceptions=False)


def test_what_lambda_gives_up_goes_to_the_artifact_bucket_by_default(gw, tmp_path, monkeypatch):
    monkeypatch.setenv(
        "MLAYER_CACHE_DIR", os.environ.get("MLAYER_CACHE_DIR") or str(REPO / ".cache" / "mlayer")
    )
    gw.ensure_bucket(BUCKET)
    deps = fake_zip({"python/shared.py": "WHO = 1\n", "mlayer/manifest.json": "{}"})
    gw.put_bytes(BUCKET, f"layers/{hashlib.sha256(deps).hexdigest()}.zip", deps)
    gw.publish_layer_version("scorer-deps", "test", zip_bytes=deps)
    sandbox.ensure_stream(gw, STREAM)
    role = sandbox.ensure_lambda_role(gw, "scorer-role")
    config = tmp_path / "mlayer.toml"
    config.write_text(
        f"""
[function]
name = "{NAME}"
runtime = "{RUNTIME}"
role = "{role}"
timeout = 10
[deps]
layer = "scorer-deps"
[model]
layer = "scorer-model"
[artifacts]
bucket = "{BUCKET}"
[trigger]
stream = "{STREAM}"
starting_position = "TRIM_HORIZON"
max_retries = 0
"""
    )
    deployed = mlayer(config, "--json", "deploy-function", "--yes")
    assert deployed.exit_code == 0, deployed.output
    doc = json.loads(deployed.stdout)
    assert doc["trigger"]["settings"]["DestinationConfig"] == {
        "OnFailure": {"Destination": f"arn:aws:s3:::{BUCKET}"}
    }

    code = fake_zip({"poisoned/__init__.py": "", "poisoned/app.py": POISONED})
    gw.put_bytes(BUCKET, f"functions/{hashlib.sha256(code).hexdigest()}.zip", code)
    gw.update_function_code(NAME, code)
    gw.update_function_configuration(NAME, Handler="poisoned.app.handler")
    bodies = [{"id": 1}, {"id": 2, "poison": True}, {"id": 3}]
    put_records(gw, STREAM, [StreamRecord(json.dumps(b).encode(), "k") for b in bodies])

    result = mlayer(config, "--json", "poll", "--local", "--stream", STREAM, "--until-empty")
    assert result.exit_code == 1, result.output
    polled = json.loads(result.stdout)
    assert (polled["succeeded"], polled["gave_up"]) == (2, 1)
    (key,) = [k for k in sandbox.list_keys(gw, BUCKET) if k.startswith("aws/lambda/")]
    assert key.startswith(f"aws/lambda/{doc['trigger']['uuid']}/shardId-000000000000/")
    assert polled["failures_sent_to"] == [f"s3://{BUCKET}/{key}"]
    written = gw.get_json(BUCKET, key)
    assert written["requestContext"]["condition"] == "RetryAttemptsExhausted"
    (given_up,) = written["payload"]["Records"]
    assert json.loads(base64.b64decode(given_up["kinesis"]["data"])) == bodies[1]
