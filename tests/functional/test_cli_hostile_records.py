"""Issue 11 through the CLI: nothing lost, whatever a record holds, as a user would run it.

One `mlayer deploy-function` per module (the real dependencies layer, a published text model,
DynamoDB results, SQS dead letters, the overflow left to deploy-function's default: the artifact
bucket under dead-letters/), then hostile records between good ones through
`mlayer invoke --local --event FILE` and `mlayer poll --local`: every good record is in the
table exactly once, every bad one is dead-lettered with a reason, and its raw data reads back
(from S3 by the letter's data_s3 uri, size and sha256 when the letter was too big for SQS).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections import defaultdict

import pytest
from click.testing import CliRunner
from deployed_support import function_toml, gateway, publish_real_deps, text_model_args, use
from function_support import kinesis_event
from publish_support import train_text_pipeline

from mlayer.cli import cli
from mlayer.gateway.kinesis_records import StreamRecord, put_records
from mlayer.local import sandbox

pytestmark = pytest.mark.slow
NAME, BUCKET, TABLE, DLQ, STREAM = "hostile", "hostile-art", "hostile-out", "hostile-dlq", "hin"
MIB = 1024 * 1024
KINESIS_MAX = MIB - 8  # data + partition key ("k", "pk-N") of one Kinesis record: at most 1 MiB


def text_record(rid: str, size: int) -> bytes:
    """A text record of exactly ``size`` bytes of JSON."""
    head, tail = b'{"id": "' + rid.encode() + b'", "text": "', b'"}'
    filler = (b"w " * size)[: size - len(head) - len(tail)]
    return head + filler + tail


CASES = {  # name: (raw data, start of the reason, letter's data in S3)
    "1MB-record": (text_record("big", KINESIS_MAX), "text too long: text has", True),
    "5000-digit-integer": (
        b'{"id": "n", "text": "win", "amount": ' + b"9" * 5000 + b"}",
        "not JSON: Exceeds the limit (4300 digits)",
        False,
    ),
    "450KB-id": (
        json.dumps({"id": "i" * 450_000, "text": "win"}).encode(),
        f"result does not fit dynamodb://{TABLE}: item of",
        False,
    ),
}
GOOD = ["win free money now", "see you at the meeting"]


def around(bad: bytes, tag: str) -> list[bytes]:
    """Two good records, the bad one, two good ones."""
    good = [json.dumps({"id": f"{tag}-{i}", "text": GOOD[i % 2]}).encode() for i in range(4)]
    return good[:2] + [bad] + good[2:]


def mlayer(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def deployed(module_aws, deps_layer_build, tmp_path_factory):
    """The function deployed from mlayer.toml in a folder of its own: (gateway, folder)."""
    work = tmp_path_factory.mktemp("hostile")
    with pytest.MonkeyPatch.context() as mp:
        use(mp, module_aws, work)
        gw = gateway(module_aws)
        publish_real_deps(gw, BUCKET, f"{NAME}-deps", deps_layer_build)
        sandbox.ensure_stream(gw, STREAM)
        sandbox.ensure_table(gw, TABLE)
        sandbox.ensure_queue(gw, DLQ)
        role = sandbox.ensure_lambda_role(gw, "hostile-role")
        (work / "mlayer.toml").write_text(
            function_toml(NAME, role, deps_layer_build, BUCKET)
            + f'[trigger]\nstream = "{STREAM}"\nstarting_position = "TRIM_HORIZON"\n'
            f'[output]\nsink = "dynamodb://{TABLE}"\ndead_letter = "sqs://{DLQ}"\n'
        )
        result = mlayer("--json", "deploy-function", "--yes")
        assert result.exit_code == 0, result.output
        on_failure = json.loads(result.stdout)["trigger"]["settings"]["DestinationConfig"]
        assert on_failure == {"OnFailure": {"Destination": gw.queue_arn(DLQ)}}
        env = gw.get_function_configuration(NAME)["Environment"]["Variables"]
        assert env["MLAYER_DEAD_LETTER_OVERFLOW"] == f"s3://{BUCKET}/dead-letters/"
        paths = train_text_pipeline(work / "model")
        result = mlayer("--json", *text_model_args(paths))
        assert result.exit_code == 0, result.output
    return gw, work


@pytest.fixture(autouse=True)
def _in_the_deployed_folder(deployed, module_aws, monkeypatch):
    """Each test runs the CLI where mlayer.toml is, against this module's AWS."""
    use(monkeypatch, module_aws, deployed[1])


LETTERS: dict[str, list[dict]] = defaultdict(list)  # event id -> its dead letters, in order


def letters_of(gw, event_id: str) -> list[dict]:
    """Drains the dead-letter queue into LETTERS (tests share it), then one event's letters."""
    for body in sandbox.receive_all(gw, DLQ):
        letter = json.loads(body)
        LETTERS[letter.get("event_id", "")].append(letter)
    return LETTERS[event_id]


def ids_in_table(gw, shard: str) -> list[str]:
    items = sandbox.scan_table(gw, TABLE)
    return sorted(i["id"]["S"] for i in items if i["event_id"]["S"].startswith(shard + ":"))


def overflow_keys(gw) -> list[str]:
    return sorted(sandbox.list_keys(gw, BUCKET, "dead-letters/"))


def raw_data(gw, letter: dict) -> str:
    """The record's data as received: in the letter, or in S3 (checked by size and sha256)."""
    if "data" in letter:
        return letter["data"]
    pointer = letter["data_s3"]
    assert pointer["uri"].startswith(f"s3://{BUCKET}/dead-letters/")
    body = gw.get_bytes(BUCKET, pointer["uri"].removeprefix(f"s3://{BUCKET}/"))
    assert len(body) == pointer["size"]
    assert hashlib.sha256(body).hexdigest() == pointer["sha256"] == pointer["uri"][-64:]
    return body.decode()


def check_letter(gw, event_id: str, case: str, sent: bytes) -> list[dict]:
    _, reason, in_s3 = CASES[case]
    letters = letters_of(gw, event_id)
    assert letters, f"{case}: no dead letter for {event_id}"
    for letter in letters:
        assert letter["reason"].startswith(reason), letter["reason"][:300]
        assert len(letter["reason"]) <= 600
        assert ("data_s3" in letter) == in_s3, sorted(letter)
        assert base64.b64decode(raw_data(gw, letter)) == sent
    return letters


@pytest.mark.parametrize("case", list(CASES))
def test_invoke_local_dead_letters_a_hostile_record_and_writes_the_good_ones_once(
    deployed, case, tmp_path
):
    gw, _ = deployed
    shard = f"shardId-{list(CASES).index(case) + 100:012d}"
    raw = around(CASES[case][0], case)
    event = kinesis_event([base64.b64encode(p).decode() for p in raw], shard=shard, raw=True)
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))

    for _ in range(2):  # the same batch delivered twice (a retry): still one row per record
        result = mlayer("--json", "invoke", "--local", "--event", str(path))
        assert result.exit_code == 0, result.output[-2000:]
        doc = json.loads(result.stdout)
        assert doc["function_error"] is None and doc["response"] == {"batchItemFailures": []}
        assert ids_in_table(gw, shard) == [f"{case}-{i}" for i in range(4)]
    letters = check_letter(gw, f"{shard}:3", case, raw[2])
    assert len(letters) == 2  # standard SQS does not deduplicate: one letter per delivery
    assert letters[0].get("data_s3") == letters[1].get("data_s3")  # same bytes, same key


def test_a_5mb_text_cannot_come_from_kinesis_and_a_direct_call_answers_it_with_its_reason(
    deployed, tmp_path
):
    """5 MB is over Kinesis's (and SQS's) 1 MiB, so no stream or queue can deliver it:
    `invoke --local` refuses such a Kinesis event (exit 2), as Lambda never sees one, and
    writes nothing. Under the 6 MB synchronous payload limit, a direct call
    ``{"instances": [...]}`` can carry it: a direct call writes to no sink and dead-letters
    nothing (the caller gets the answers), so the 5 MB text comes back with its reason and
    the good instances around it with their predictions."""
    gw, _ = deployed
    shard = "shardId-000000000200"
    big = text_record("huge", 5 * MIB)
    raw = around(big, "5mb")
    event = kinesis_event([base64.b64encode(p).decode() for p in raw], shard=shard, raw=True)
    path = tmp_path / "kinesis.json"
    path.write_text(json.dumps(event))
    result = mlayer("invoke", "--local", "--event", str(path))
    assert result.exit_code == 2, result.output[-2000:]
    assert "Kinesis refuses a record over 1048576 bytes" in result.stderr
    assert ids_in_table(gw, shard) == [] and letters_of(gw, f"{shard}:3") == []

    instances = [json.loads(p) for p in raw]
    direct = tmp_path / "direct.json"
    direct.write_text(json.dumps({"instances": instances}))
    assert 5 * MIB < direct.stat().st_size < 6_291_456
    result = mlayer("--json", "invoke", "--local", "--event", str(direct))
    assert result.exit_code == 0, result.output[-2000:]
    answers = json.loads(result.stdout)["response"]["predictions"]
    assert [a["id"] for a in answers] == ["5mb-0", "5mb-1", "huge", "5mb-2", "5mb-3"]
    assert answers[2]["error"].startswith("text too long: text has"), answers[2]
    assert len(answers[2]["error"]) <= 600 and "prediction" not in answers[2]
    assert all("prediction" in a and "error" not in a for i, a in enumerate(answers) if i != 2)


def test_poll_local_dead_letters_every_hostile_record_and_a_replay_adds_no_row(deployed):
    """Each case that Kinesis can carry, put on the stream between good records: the 1 MB
    record is near the biggest a PutRecords accepts (data and partition key within 1 MiB; the
    5 MB text cannot be put on a stream at all, see the direct-call test). A second poll reads nothing new;
    a replay from the stream's start (the checkpoint removed, as after a rollback) rewrites the
    same rows and the same overflow objects: every good record is still there exactly once."""
    gw, _ = deployed
    raw: list[bytes] = []
    for case, (bad, _, _) in CASES.items():
        raw += around(bad, f"poll-{case}")[:3]
    raw += [json.dumps({"id": f"poll-end-{i}", "text": GOOD[i % 2]}).encode() for i in range(2)]
    for i in range(0, len(raw), 4):  # PutRecords takes at most 5 MiB per call
        put_records(gw, STREAM, [StreamRecord(d, "k") for d in raw[i : i + 4]])
    good_ids = sorted(json.loads(d)["id"] for d in raw if len(d) < 1000)
    bad_at = {case: 3 * n + 2 for n, case in enumerate(CASES)}  # position in the stream

    result = mlayer("--json", "poll", "--local", "--until-empty")
    assert result.exit_code == 0, result.output[-2000:]
    doc = json.loads(result.stdout)
    assert (doc["records"], doc["succeeded"], doc["gave_up"]) == (len(raw), len(raw), 0)
    shard = "shardId-000000000000"
    assert ids_in_table(gw, shard) == good_ids
    stored = sandbox.scan_table(gw, TABLE)
    sequences = {
        i["id"]["S"]: i["event_id"]["S"] for i in stored if i["event_id"]["S"].startswith(shard)
    }
    assert len(sequences) == len(good_ids)
    event_ids = {}
    for case, position in bad_at.items():
        (letter,) = letters_of(gw, letter_id := _event_id_at(gw, position))
        event_ids[case] = letter_id
        check_letter(gw, letter_id, case, raw[position])
    keys = overflow_keys(gw)
    assert len(keys) >= 1

    again = json.loads(mlayer("--json", "poll", "--local", "--until-empty").stdout)
    assert again["records"] == 0

    checkpoints = [k for k in sandbox.list_keys(gw, BUCKET, f"local/checkpoints/{NAME}/")]
    assert checkpoints, "no checkpoint to remove for the replay"
    for key in checkpoints:
        gw.call("s3", "delete_object", "replay", Bucket=BUCKET, Key=key)
    replay = mlayer("--json", "poll", "--local", "--until-empty")
    assert replay.exit_code == 0, replay.output[-2000:]
    assert json.loads(replay.stdout)["records"] == len(raw)
    assert ids_in_table(gw, shard) == good_ids
    assert overflow_keys(gw) == keys
    for case, letter_id in event_ids.items():
        assert len(check_letter(gw, letter_id, case, raw[bad_at[case]])) == 2


def _event_id_at(gw, position: int) -> str:
    """The event id of the stream's record at ``position`` (its sequence number from Kinesis)."""
    shard = "shardId-000000000000"
    iterator = gw.call(
        "kinesis", "get_shard_iterator", "read", StreamName=STREAM, ShardId=shard,
        ShardIteratorType="TRIM_HORIZON",
    )["ShardIterator"]  # fmt: skip
    records = gw.call("kinesis", "get_records", "read", ShardIterator=iterator, Limit=position + 1)
    return f"{shard}:{records['Records'][position]['SequenceNumber']}"
