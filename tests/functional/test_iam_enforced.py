"""Least privilege, proven on the embedded AWS with IAM enforced (local-aws --enforce-iam):
a deployer holding exactly `mlayer policy --deployer` runs the story through the CLI, and
each statement of both generated policies, removed, makes a named path fail with AccessDenied
(the deployer's: an mlayer command; the function's: the function's own code, or the request
Lambda makes with the role, under credentials from sts:AssumeRole on a role holding the rest).
"""

from __future__ import annotations

import re

import pytest
from iam_support import Enforced, assume, denied, denied_action, enforced_aws
from publish_support import BUCKET, DEPS, publish_args, publish_deps, train_text_pipeline

from mlayer.local import sandbox
from mlayer.policy.document import without

pytestmark = pytest.mark.slow  # a moto server in its own process

STREAM, DLQ, TABLE, TOPIC = "input", "dead", "predictions", "gave-up"
CONFIG = """
[function]
name = "{name}"
runtime = "python3.12"
architecture = "x86_64"
role = "create"

[deps]
layer = "{deps}"

[model]
layer = "{model}"

[artifacts]
bucket = "{bucket}"

[trigger]
stream = "{stream}"
batch_size = {batch}
on_failure = "sns://{topic}"

[output]
sink = "dynamodb://{table}"
dead_letter = "sqs://{dlq}"
"""
# Statements the embedded AWS cannot show necessary, each for a stated reason (the test
# checks that exactly these pass without their statement, so a moto that starts checking
# them makes it fail until they join the others).
# (iam:PassRole, which moto never asks for, is checked by local/iam_enforcement.py.)
NOT_CHECKED_HERE: dict[str, str] = {}


@pytest.fixture(scope="module")
def enforced() -> Enforced:
    yield from enforced_aws()


@pytest.fixture(scope="module")
def world(enforced, tmp_path_factory):
    """The administrator's set-up: stream, queue, table, the bucket with a dependencies layer,
    and two models' files."""
    admin = enforced.gateway()
    sandbox.ensure_stream(admin, STREAM)
    sandbox.ensure_queue(admin, DLQ)
    sandbox.ensure_table(admin, TABLE)
    admin.call("sns", "create_topic", "Creating the topic", Name=TOPIC)
    publish_deps(admin)
    folder = tmp_path_factory.mktemp("iam")
    return {
        "folder": folder,
        "models": [train_text_pipeline(folder / f"m{i}", variant=i) for i in range(3)],
    }


def write_config(path, name: str, *, bucket: str = BUCKET, batch: int = 100):
    path.write_text(
        CONFIG.format(
            name=name,
            deps=DEPS,
            model=f"{name}-model",  # its own model layer: prune judges that layer's versions
            bucket=bucket,
            stream=STREAM,
            batch=batch,
            table=TABLE,
            topic=TOPIC,
            dlq=DLQ,
        )
    )
    return path


def story(
    enforced: Enforced,
    creds: dict,
    world: dict,
    config,
    name: str,
    bucket: str,
    prune=False,
    shadow=False,
):
    """The commands of the story, in order; stops at the first failure: (command, result).
    ``prune``: then a third model, and prune keeping one (version 1 is then nobody's);
    ``shadow``: then a candidate attached as a shadow and `shadow status` (no alias)."""
    models = world["models"]
    steps = [
        ("deploy-function", ("deploy-function", "--yes")),
        ("publish-model", tuple(publish_args(models[0], "--yes"))),
        ("publish-model", tuple(publish_args(models[1], "--yes"))),
        ("rollback", ("rollback", "--previous", "--yes")),
        ("history", ("history",)),
        ("status", ("status",)),
    ]
    for command, args in steps:
        result, _doc = enforced.mlayer(creds, config, *args)
        if result.exit_code != 0:
            return command, result
    write_config(
        config, name, bucket=bucket, batch=50
    )  # a changed trigger: UpdateEventSourceMapping
    result, _doc = enforced.mlayer(creds, config, "deploy-function", "--yes")
    if result.exit_code:
        return "deploy-function (update)", result
    if prune:
        result, _doc = enforced.mlayer(creds, config, *publish_args(models[2], "--yes"))
        if result.exit_code:
            return "publish-model", result
        prune_args = ("prune", "--keep", "1", "--older-than", "0", "--yes")
        result, doc = enforced.mlayer(creds, config, *prune_args)
        if result.exit_code:
            return "prune", result
        deleted = {item["kind"] for item in doc["outcome"]["deleted"]}
        assert deleted, doc  # something was pruned: the path ran
    if shadow:
        result, _doc = enforced.mlayer(creds, config, *publish_args(models[0], "--shadow", "--yes"))
        if result.exit_code:
            return "publish-model --shadow", result
        result, doc = enforced.mlayer(creds, config, "shadow", "status")
        if result.exit_code:
            return "shadow status", result
        assert doc["total"]["records_compared"] == 0, doc  # read from CloudWatch: no traffic
    return None, result


def deployer_policy(enforced: Enforced, config) -> dict:
    result, doc = enforced.mlayer(enforced.admin, config, "policy", "--deployer")
    assert result.exit_code == 0, result.output
    return doc


def test_the_deployer_policy_runs_the_whole_story(enforced, world):
    config = write_config(world["folder"] / "full.toml", "scorer")
    deployer = sandbox.create_user(
        enforced.gateway(), "deployer", deployer_policy(enforced, config)
    )
    failed, result = story(
        enforced, deployer, world, config, "scorer", BUCKET, prune=True, shadow=True
    )
    assert failed is None, result.output
    status, doc = enforced.mlayer(deployer, config, "status")
    assert doc["role_missing"] == []  # the created role grants what the configuration needs
    # and nothing beyond the configuration: another function is out of reach
    other, _ = enforced.mlayer(
        deployer, write_config(world["folder"] / "o.toml", "other"), "status"
    )
    assert other.exit_code == 1 and denied(other)


def statement_ids(enforced, world) -> list[str]:
    config = write_config(world["folder"] / "ids.toml", "ids")
    return [s["Sid"] for s in deployer_policy(enforced, config)["Statement"]]


PRUNE_SIDS = {"PruneObjects", "PruneVersions", "ReadAccountLayers"}  # shown by a prune run
SHADOW_SIDS = {"ReadMetrics"}  # shown by `shadow status`, which needs no [model] alias
DEPLOYER_SIDS = [
    "ArtifactBucket",
    "ArtifactObjects",
    "CreateArtifactBucket",
    "EventSourceMappings",
    "Function",
    "Layers",
    "ListLayers",
    "ManageRole",
    "OnFailureTarget",
    "PassRole",
    "PruneObjects",
    "PruneVersions",
    "ReadAccountLayers",
    "ReadMetrics",
    "TriggerStream",
    "UpdateEventSourceMapping",
]


def test_the_list_of_deployer_statements_is_the_generated_one(enforced, world):
    assert statement_ids(enforced, world) == DEPLOYER_SIDS


@pytest.mark.parametrize("sid", DEPLOYER_SIDS)
def test_every_deployer_statement_is_necessary(enforced, world, sid):
    name = f"f-{sid.lower()}"
    bucket = f"b-{sid.lower()}" if sid == "CreateArtifactBucket" else BUCKET
    config = write_config(world["folder"] / f"{sid}.toml", name, bucket=bucket)
    policy = deployer_policy(enforced, config)
    statement = next(s for s in policy["Statement"] if s["Sid"] == sid)
    user = sandbox.create_user(enforced.gateway(), f"without-{sid}", without(policy, sid))
    failed, result = story(
        enforced, user, world, config, name, bucket, sid in PRUNE_SIDS, sid in SHADOW_SIDS
    )
    if sid in NOT_CHECKED_HERE:
        assert failed is None, result.output
        return
    action = denied_action(result)
    assert failed and action, f"nothing was denied without {sid}: {result.output}"
    actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
    assert action in actions, (sid, failed, action, result.output)
    print(f"without {sid}: {failed} is denied {action}")


# -- the function's role: each statement, removed, fails the path that needs it --------------
FUNCTION_NAME = "scorer"
SHARD = "shardId-000000000000"


def _result(n: int) -> dict:
    return {
        "id": f"a-{n}",
        "prediction": "spam",
        "model_version": "v1",
        "event_id": f"{SHARD}:{n}",
        "predicted_at": "2026-12-07T07:00:00.000Z",
    }


class FunctionPaths:
    """What runs with the function's role: the function's own code (sinks, dead letters, the
    model fetch) with clients on the role's credentials, and the requests Lambda's service
    makes with that role (logs, the stream's reads, the on-failure record)."""

    def __init__(self, enforced: Enforced, account: str, folder) -> None:
        self.enforced, self.account, self.folder = enforced, account, folder

    def _client(self, creds, service):
        return self.enforced.client(service, creds)

    def logs(self, creds) -> None:
        logs = self._client(creds, "logs")
        group = f"/aws/lambda/{FUNCTION_NAME}"
        try:
            logs.create_log_group(logGroupName=group)
        except logs.exceptions.ResourceAlreadyExistsException:
            pass  # Lambda creates it once, at the first start
        logs.create_log_stream(logGroupName=group, logStreamName=f"s{id(creds)}")
        logs.put_log_events(
            logGroupName=group,
            logStreamName=f"s{id(creds)}",
            logEvents=[{"timestamp": 1765090800000, "message": "START"}],
        )

    def stream_reads(self, creds) -> None:
        kinesis = self._client(creds, "kinesis")
        kinesis.describe_stream(StreamName=STREAM)
        kinesis.describe_stream_summary(StreamName=STREAM)
        shard = kinesis.list_shards(StreamName=STREAM)["Shards"][0]["ShardId"]
        iterator = kinesis.get_shard_iterator(
            StreamName=STREAM, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        kinesis.get_records(ShardIterator=iterator, Limit=10)

    def list_streams(self, creds) -> None:
        self._client(creds, "kinesis").list_streams()

    def _sink_failure(self, creds, url: str) -> None:
        from mlayer_function import sinks

        warnings: list[str] = []
        sink = sinks.sink_from_url(
            url,
            client_factory=lambda service: self._client(creds, service),
            retry=sinks.Retry(attempts=1, base_delay=0.0, sleep=lambda _s: None),
            warn=warnings.append,
        )
        delivery = sink.write([_result(1)])
        if delivery.retry or delivery.refused:  # what the batch then reports as failed
            raise PermissionError("; ".join(warnings) or str(delivery))

    def write_results(self, creds) -> None:
        self._sink_failure(creds, f"dynamodb://{TABLE}")

    def write_dead_letters(self, creds) -> None:
        self._sink_failure(creds, f"sqs://{DLQ}")

    def write_overflow(self, creds) -> None:
        from mlayer_function import deadletters, sinks

        retry = sinks.Retry(attempts=1, base_delay=0.0, sleep=lambda _s: None)
        store = deadletters.OverflowStore.from_url(
            f"s3://{BUCKET}/dead-letters/", lambda service: self._client(creds, service), retry
        )
        store.put(f"{SHARD}:1", "x" * 2_000_000)

    def read_model(self, creds) -> None:
        from mlayer_function import fetch

        entry = self.enforced.model_entry
        fetch.download(self._client(creds, "s3"), entry, self.folder / f"m{id(creds)}", threads=1)

    def on_failure(self, creds) -> None:
        topic = f"arn:aws:sns:us-east-1:{self.account}:{TOPIC}"
        self._client(creds, "sns").publish(TopicArn=topic, Message="{}")


FUNCTION_PATHS = {
    "Logs": FunctionPaths.logs,
    "ReadTriggerStream": FunctionPaths.stream_reads,
    "ListStreams": FunctionPaths.list_streams,
    "WriteResults": FunctionPaths.write_results,
    "WriteDeadLetters": FunctionPaths.write_dead_letters,
    "WriteDeadLetterOverflow": FunctionPaths.write_overflow,
    "ReadModelArtifacts": FunctionPaths.read_model,
    "WriteOnFailure": FunctionPaths.on_failure,
}


@pytest.fixture(scope="module")
def function_world(enforced, world):
    """The function's configuration and policy, an S3-stored model artifact, and the paths."""
    import hashlib
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "function"))
    admin = enforced.gateway()
    config = write_config(world["folder"] / "function.toml", FUNCTION_NAME)
    result, policy = enforced.mlayer(enforced.admin, config, "policy", "--function")
    assert result.exit_code == 0, result.output
    data = b"model bytes " * 1000
    sha = hashlib.sha256(data).hexdigest()
    admin.put_bytes(BUCKET, f"models/{sha}", data)
    object.__setattr__(
        enforced,
        "model_entry",
        {
            "file": "model.joblib",
            "bucket": BUCKET,
            "s3_key": f"models/{sha}",
            "size": len(data),
            "sha256": sha,
        },
    )
    return policy, FunctionPaths(enforced, admin.account_id(), world["folder"])


def role_with(enforced: Enforced, name: str, policy: dict) -> dict[str, str]:
    """A role trusting Lambda with ``policy`` inline; credentials as Lambda gets them."""
    admin = enforced.gateway()
    arn = admin.create_lambda_role(name, "test")
    admin.put_role_policy(name, "mlayer", policy)
    return assume(enforced, arn)


def test_the_function_statements_are_the_generated_ones(function_world):
    policy, _paths = function_world
    assert sorted(s["Sid"] for s in policy["Statement"]) == sorted(FUNCTION_PATHS)


def test_the_function_policy_lets_every_path_run(enforced, function_world):
    policy, paths = function_world
    creds = role_with(enforced, "fn-full", policy)
    for path in FUNCTION_PATHS.values():
        path(paths, creds)


@pytest.mark.parametrize("sid", sorted(FUNCTION_PATHS))
def test_every_function_statement_is_necessary(enforced, function_world, sid):
    policy, paths = function_world
    creds = role_with(enforced, f"fn-without-{sid}", without(policy, sid))
    with pytest.raises(Exception) as failure:
        FUNCTION_PATHS[sid](paths, creds)
    text = str(failure.value)
    assert "AccessDenied" in text, text
    named = re.search(r"not authorized to perform: ([A-Za-z0-9]+:[A-Za-z0-9]+)", text)
    statement = next(s for s in policy["Statement"] if s["Sid"] == sid)
    actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
    assert named is None or named.group(1) in actions, (sid, named.group(1))
    print(f"without {sid}: {FUNCTION_PATHS[sid].__name__} fails: {text[:160]}")
