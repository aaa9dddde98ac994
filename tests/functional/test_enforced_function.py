"""The real function under enforced IAM (local-aws --enforce-iam), driven through the CLI by a
deployer holding exactly `mlayer policy --deployer`: the function (mlayer's handler, the real
dependencies layer, in a separate Python) runs with sts:AssumeRole credentials of the role
deploy-function created (`[function] role = "create"`).

GIVEN the created role, WHEN a batch is invoked, THEN every result and dead letter is written.
GIVEN that role without its sink's (or dead-letter sink's) statement, THEN the batch fails from
the first record it could not place, the log names the AccessDenied, and nothing is lost: a
record is written, dead-lettered, or in the part Lambda delivers again; deploy-function puts
the statement back and the redelivered batch is written whole.
A shadow's status without [model] alias, and a canary rollout on an alias, read CloudWatch as
the deployer (cloudwatch:GetMetricData) what Lambda's stand-in published.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from function_support import SHARD, kinesis_event
from iam_support import Enforced, enforced_aws
from publish_support import TEXTS, publish_args, train_text_pipeline

from mlayer.gateway import Gateway
from mlayer.gateway.kinesis_records import StreamRecord, put_records
from mlayer.gateway.routing import read_routing
from mlayer.local import enforced as enforced_iam
from mlayer.local import sandbox
from mlayer.policy.document import without

pytestmark = pytest.mark.slow  # a moto server in its own process, the function in another
REPO = Path(__file__).resolve().parents[2]
RUNTIME = "python{}.{}".format(*sys.version_info[:2])
BUCKET, TABLE, LETTERS = "enforced-art", "enforced-predictions", "enforced-letters"
CONFIG = """
[function]
name = "{name}"
role = "create"
runtime = "{runtime}"
architecture = "{arch}"
memory = 1024
timeout = 60

[deps]
layer = "enforced-deps"

[model]
layer = "{name}-model"
alias = "{alias}"

[artifacts]
bucket = "{bucket}"

[trigger]
stream = "{name}-events"
starting_position = "TRIM_HORIZON"

[output]
sink = "dynamodb://{table}"
dead_letter = "sqs://{letters}"
"""
ROLLOUT_ENV = {  # each step watched for seconds, as the demo does
    "MLAYER_ROLLOUT_INTERVAL": "2s",
    "MLAYER_ROLLOUT_METRIC_PERIOD": "1s",
    "MLAYER_ROLLOUT_MIN_RECORDS": "30",
    # this proves permissions, not speed: two emulated versions' Durations on a loaded 2-core
    # machine differ by more than the default 25 ms (a CI run saw 180 vs 50 ms), so the
    # latency gate here needs a second's difference (tests/e2e/test_rollout_models.py judges it)
    "MLAYER_ROLLOUT_LATENCY_SLACK_MS": "1000",
}


def configure(folder: Path, name: str, alias: str = "", arch: str = "x86_64") -> Path:
    """<folder>/<name>/mlayer.toml of function ``name``."""
    (folder / name).mkdir(exist_ok=True)
    path = folder / name / "mlayer.toml"
    path.write_text(
        CONFIG.format(
            name=name,
            runtime=RUNTIME,
            arch=arch,
            alias=alias,
            bucket=BUCKET,
            table=TABLE,
            letters=LETTERS,
        )
    )
    return path


@dataclass(frozen=True)
class World:
    enforced: Enforced
    admin: Gateway
    deployer: dict[str, str]  # its keys, Lambda's stand-in's and the build cache
    folder: Path
    arch: str
    models: dict[str, dict[str, Path]]

    def config(self, name: str, alias: str = "") -> Path:
        sandbox.ensure_stream(self.admin, f"{name}-events")
        return configure(self.folder, name, alias, self.arch)

    def grant(self, config: Path, name: str) -> None:
        """The deployer's policy for this function: `mlayer policy --deployer`, exactly."""
        result, policy = self.enforced.mlayer(self.enforced.admin, config, "policy", "--deployer")
        assert result.exit_code == 0, result.output
        sandbox.set_user_policy(self.admin, "deployer", policy, name)

    def mlayer(self, config: Path, *args: str, **env: str):
        result, doc = self.enforced.mlayer({**self.deployer, **env}, config, *args)
        return result, doc


@pytest.fixture(scope="module")
def world(deps_layer_build, tmp_path_factory):
    for enforced in enforced_aws():
        admin = enforced.gateway()
        admin.ensure_bucket(BUCKET)
        sandbox.ensure_table(admin, TABLE)
        sandbox.ensure_queue(admin, LETTERS)
        data = deps_layer_build.zip_path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        admin.put_bytes(BUCKET, f"layers/{sha}.zip", data)
        admin.put_json(BUCKET, f"layers/{sha}.lock.json", deps_layer_build.lock())
        admin.publish_layer_version("enforced-deps", "deps", s3=(BUCKET, f"layers/{sha}.zip"))
        service = enforced_iam.lambda_stand_in(admin)
        folder = tmp_path_factory.mktemp("enforced-function")
        # the deployer, first holding `mlayer policy --deployer` of scorer (the canary's later)
        result, policy = enforced.mlayer(
            enforced.admin, configure(folder, "scorer"), "policy", "--deployer"
        )
        assert result.exit_code == 0, result.output
        deployer = sandbox.create_user(admin, "deployer", policy, "scorer")
        yield World(
            enforced,
            admin,
            {
                **deployer,
                **{f"MLAYER_LAMBDA_{k[4:]}": v for k, v in service.items()},
                "MLAYER_CACHE_DIR": os.environ.get("MLAYER_CACHE_DIR")
                or str(REPO / ".cache" / "mlayer"),
            },
            folder,
            deps_layer_build.arch,
            {
                "v1": train_text_pipeline(folder / "v1"),
                "v2": train_text_pipeline(folder / "v2", variant=1),
            },
        )


@pytest.fixture(scope="module")
def scorer(world):
    """`scorer` deployed by the deployer with model v1, no alias: its config."""
    config = world.config("scorer")
    for args in (("deploy-function", "--yes"), publish_args(world.models["v1"], "--yes")):
        result, _ = world.mlayer(config, *args)
        assert result.exit_code == 0, result.output
    return config


def invoke(world: World, config: Path, ids: list[str], first_seq: int) -> dict:
    """invoke --local of a Kinesis batch: the tickets ``ids``, then one record that is not
    JSON (a dead letter)."""
    payloads = [
        base64.b64encode(json.dumps({"id": i, "text": TEXTS[n % len(TEXTS)]}).encode()).decode()
        for n, i in enumerate(ids)
    ] + [base64.b64encode(b"{not json").decode()]
    event = config.parent / f"event-{first_seq}.json"
    event.write_text(json.dumps(kinesis_event(payloads, first_seq=first_seq, raw=True)))
    result, doc = world.mlayer(config, "invoke", "--local", "--event", str(event))
    assert result.exit_code == 0, result.output
    return doc


def written(world: World, ids: list[str]) -> dict[str, dict]:
    rows = {row["id"]["S"]: row for row in sandbox.scan_table(world.admin, TABLE)}
    return {i: rows[i] for i in ids if i in rows}


def letters(world: World) -> list[dict]:
    return [json.loads(body) for body in sandbox.receive_all(world.admin, LETTERS)]


def test_the_created_role_lets_the_function_write_everything(world, scorer):
    ids = [f"full-{i}" for i in range(8)]
    doc = invoke(world, scorer, ids, first_seq=100)
    assert doc["response"] == {"batchItemFailures": []}
    rows = written(world, ids)
    assert sorted(rows) == sorted(ids)
    assert {row["model_version"]["S"] for row in rows.values()} == {"v1"}
    (letter,) = letters(world)
    assert letter["event_id"] == f"{SHARD}:108" and "json" in letter["reason"].lower()


@pytest.mark.parametrize("sid, first", [("WriteResults", 0), ("WriteDeadLetters", 8)])
def test_a_role_without_its_sink_statement_fails_the_batch_and_loses_nothing(
    world, scorer, sid, first
):
    role = "mlayer-scorer"
    full = world.admin.get_role_policy(role, "mlayer")
    world.admin.put_role_policy(role, "mlayer", without(full, sid))
    ids = [f"{sid}-{i}" for i in range(8)]
    seq = 200 if sid == "WriteResults" else 300
    doc = invoke(world, scorer, ids, first_seq=seq)
    failures = [int(f["itemIdentifier"]) for f in doc["response"]["batchItemFailures"]]
    logs = "\n".join(doc["logs"])
    assert failures == [seq + first], logs  # Lambda delivers the batch again from there
    named = re.search(r"AccessDenied.*?not authorized to perform: ([\w-]+:\w+)", logs)
    (statement,) = [st for st in full["Statement"] if st["Sid"] == sid]
    actions = statement["Action"]
    assert named and named.group(1) in ([actions] if isinstance(actions, str) else actions), logs
    rows, dead = written(world, ids), {x["event_id"] for x in letters(world)}
    for n, record in enumerate([*ids, "not json"]):
        placed = record in rows or f"{SHARD}:{seq + n}" in dead
        assert placed != (seq + n >= failures[0]), (record, placed)  # never both, never lost
    print(f"without {sid}: batch failed from {failures[0]}, {named.group(0)[:60]}...")

    # deploy-function writes the configuration's policy again, the statement added back
    result, deployed = world.mlayer(scorer, "deploy-function", "--yes")
    assert result.exit_code == 0, result.output
    assert [c["sid"] for c in deployed["role"]["changes"]] == [sid]
    again = invoke(world, scorer, ids, first_seq=seq)  # Lambda's redelivery, whole
    assert again["response"] == {"batchItemFailures": []}
    assert sorted(written(world, ids)) == sorted(ids)
    assert [x["event_id"] for x in letters(world)] == [f"{SHARD}:{seq + 8}"]


def test_shadow_status_without_an_alias_reads_the_shadows_metrics(world, scorer):
    result, doc = world.mlayer(scorer, *publish_args(world.models["v2"], "--shadow", "--yes"))
    assert result.exit_code == 0, result.output
    try:
        ids = [f"shadow-{i}" for i in range(12)]
        answer = invoke(world, scorer, ids, first_seq=400)
        assert answer["shadow"]["records"] == len(ids)
        result, status = world.mlayer(scorer, "shadow", "status")
        assert result.exit_code == 0, result.output
        assert status["total"]["records_compared"] == len(ids)
    finally:
        result, _ = world.mlayer(scorer, "shadow", "stop", "--yes")
        assert result.exit_code == 0, result.output
        letters(world)  # the batch's dead letter, read away


def test_a_canary_rollout_as_the_deployer(world):
    """publish-model --rollout canary, traffic through the alias (poll --local), rollout
    resume judging the gates from CloudWatch: promoted."""
    config = world.config("canary", alias="live")
    world.grant(config, "canary")
    v1, v2 = world.models["v1"], world.models["v2"]
    for args in (("deploy-function", "--yes"), publish_args(v1, "--yes")):
        result, _ = world.mlayer(config, *args, **ROLLOUT_ENV)
        assert result.exit_code == 0, result.output
    canary = ("--rollout", "canary", "--percent", "30", "--no-wait", "--yes")
    result, doc = world.mlayer(config, *publish_args(v2, *canary), **ROLLOUT_ENV)
    assert result.exit_code == 0, result.output
    new = doc["rollout"]["new_version"]
    records = [
        StreamRecord(json.dumps({"id": f"c{i}", "text": TEXTS[i % len(TEXTS)]}).encode(), str(i))
        for i in range(200)
    ]
    put_records(world.admin, "canary-events", records)
    poll = ("poll", "--local", "--function", "canary:live", "--batch-size", "10", "--until-empty")
    result, _ = world.mlayer(config, *poll, **ROLLOUT_ENV)
    assert result.exit_code == 0, result.output
    result, doc = world.mlayer(config, "rollout", "resume", **ROLLOUT_ENV)
    assert result.exit_code == 0, result.output
    state = world.admin.get_json(BUCKET, "rollouts/canary/live.json")
    routing = read_routing(world.admin, "canary", "live")
    assert state["status"] == "promoted", state
    assert (routing.version, routing.weights) == (new, {})
    letters(world)


FILES_CONFIG = """
[function]
name = "filer"
role = "create"
runtime = "{runtime}"
architecture = "{arch}"
memory = 1024
timeout = 60

[deps]
layer = "enforced-deps"

[model]
layer = "filer-model"

[artifacts]
bucket = "{bucket}"

[trigger]
s3 = "s3://enforced-inbox/drop/"

[output]
sink = "s3://enforced-scores/out/"
dead_letter = "sqs://{letters}"
"""


def test_a_dropped_file_is_scored_with_the_functions_role(world):
    """invoke --local --s3 runs the function with its created role's credentials (as every
    invoke): it reads the file, HEADs and writes its output beside the state, as the role
    allows (the deployer could do none of it)."""
    for bucket in ("enforced-inbox", "enforced-scores"):
        world.admin.ensure_bucket(bucket)
    config = world.folder / "filer" / "mlayer.toml"
    config.parent.mkdir(exist_ok=True)
    config.write_text(
        FILES_CONFIG.format(runtime=RUNTIME, arch=world.arch, bucket=BUCKET, letters=LETTERS)
    )
    world.grant(config, "filer")
    for args in (("deploy-function", "--yes"), publish_args(world.models["v1"], "--yes")):
        result, _ = world.mlayer(config, *args)
        assert result.exit_code == 0, result.output
    rows = "".join(f"f{i},{TEXTS[i % len(TEXTS)]}\n" for i in range(12))
    world.admin.put_bytes("enforced-inbox", "drop/a b.csv", f"id,text\n{rows}".encode())
    result, doc = world.mlayer(
        config, "invoke", "--local", "--s3", "s3://enforced-inbox/drop/a b.csv"
    )
    assert result.exit_code == 0, result.output
    (done,) = doc["response"]["files"]
    bucket, _, key = done["output"].removeprefix("s3://").partition("/")
    lines = world.admin.get_bytes(bucket, key).decode().splitlines()
    assert [json.loads(line)["id"] for line in lines] == [f"f{i}" for i in range(12)]
