"""The output of a scored file across invocations, on the embedded AWS (moto over HTTP).

GIVEN an output bigger than one multipart part, written by several writers in turn (one per
invocation, each parking its tail and the next taking it back), WHEN it is finished, THEN the
object is every byte once, in order, with 5 MiB parts as S3 wants them; a writer that uploads
the same part number again (a re-run continuation) leaves the same object.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "function"))

from mlayer_function.file_output import OutputWriter  # noqa: E402
from mlayer_function.file_state import FileJob, output_key, state_key  # noqa: E402
from mlayer_function.retries import Retry  # noqa: E402

MIB = 1024 * 1024


def job() -> FileJob:
    out = output_key("scores/", "in/day 1.csv", '"e1"', "v1")
    return FileJob("in", "in/day 1.csv", "e1", 1, "v1", "out", out, state_key("scores/", out))


def chunks(n: int) -> list[bytes]:
    """n chunks of ~1.5 MiB of JSON-ish lines, each distinct."""
    return [(f'{{"line":{i}}}\n' * 150_000).encode()[: 3 * MIB // 2] for i in range(n)]


def test_an_output_written_over_three_invocations_is_every_byte_once(aws):
    s3 = boto3.client("s3", endpoint_url=aws.endpoint_url, region_name=aws.region)
    s3.create_bucket(Bucket="out")
    state, data = job(), chunks(9)
    invocations = [data[:2], data[2:6], data[6:]]
    for number, pieces in enumerate(invocations):
        writer = OutputWriter(s3, state, Retry(), part_bytes=5 * MIB)
        writer.resume()
        for piece in pieces:
            writer.add(piece)
        state.offset += 1  # a continuation would move to the next row boundary
        if number < len(invocations) - 1:
            writer.park()
            state = FileJob.from_json(state.to_json())  # what the next invocation reads
        else:
            writer.finish()
    assert [p["PartNumber"] for p in state.parts] == [1, 2, 3]  # 6 MiB, 6 MiB, the 1.5 MiB tail
    body = s3.get_object(Bucket="out", Key=state.out_key)["Body"].read()
    assert body == b"".join(data)
    head = s3.head_object(Bucket="out", Key=state.out_key, PartNumber=1)
    assert head["ContentLength"] >= 5 * MIB


def test_a_part_uploaded_again_under_its_number_changes_nothing(aws):
    s3 = boto3.client("s3", endpoint_url=aws.endpoint_url, region_name=aws.region)
    s3.create_bucket(Bucket="out")
    data = chunks(5)
    state = job()
    first = OutputWriter(s3, state, Retry(), part_bytes=5 * MIB)
    for piece in data[:4]:
        first.add(piece)  # part 1 uploaded at the 4th piece
    saved = FileJob.from_json(state.to_json())
    again = OutputWriter(s3, FileJob.from_json(state.to_json()), Retry(), part_bytes=5 * MIB)
    again._job.parts.clear()  # the re-run starts from the state before part 1 was recorded
    for piece in data[:4]:
        again.add(piece)
    assert again._job.parts[0]["PartNumber"] == 1
    assert again._job.parts[0]["ETag"] == saved.parts[0]["ETag"]  # same bytes, same part
    first.add(data[4])
    first.finish()
    assert s3.get_object(Bucket="out", Key=state.out_key)["Body"].read() == b"".join(data)


def test_a_features_chunk_scores_the_same_on_the_array_path_and_row_by_row(model_layers):
    """A clean chunk takes the one-array path; one bad row sends the chunk row by row: the
    good rows' lines are the same either way, and equal the pipeline's own predictions."""
    import joblib
    import numpy as np
    from mlayer_function.decoding import RowRules
    from mlayer_function.file_cells import CsvRows
    from mlayer_function.file_scoring import score_batch
    from mlayer_function.modelstore import load_model

    model = load_model(model_layers["features"])
    rules = RowRules("features", model.n_features)
    rows = CsvRows(["a", "id", "b", "c", "d"], "features")
    values = np.random.default_rng(3).normal(size=(40, 4)).round(6)
    good = [(i + 2, f"{v[0]},r{i},{v[1]},{v[2]},{v[3]}".encode()) for i, v in enumerate(values)]
    clean = score_batch(good, model=model, rules=rules, csv_rows=rows)
    mixed = score_batch(
        [*good[:7], (99, b"x,bad,1,2,3"), *good[7:]], model=model, rules=rules, csv_rows=rows
    )
    assert clean.output == mixed.output and clean.predicted == 40
    assert [(line, reason[:39]) for line, _, reason in mixed.letters] == [
        (99, "wrong type: column 'a' must be a number")
    ]
    steps = [joblib.load(model_layers["features"] / a["file"]) for a in model.manifest["artifacts"]]
    x = steps[0].transform(values)
    lines = [json.loads(text) for text in clean.output.decode().splitlines()]
    assert [o["prediction"] for o in lines] == steps[1].predict(x).tolist()
    assert [o["id"] for o in lines] == [f"r{i}" for i in range(40)]
    assert [o["line"] for o in lines] == list(range(2, 42))


class Context:
    """What the Lambda context gives the file scorer: the ARN invoked and the time left."""

    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:scorer:live"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def test_a_continuation_delivered_twice_mid_file_scores_its_rows_once(aws, model_layers):
    """GIVEN a file continued after every chunk (a reserve longer than the time left), WHEN the
    first continuation is delivered again after the second ran, THEN it does nothing, and the
    output holds every row once. Lambda's async Invoke cannot run here: a Stubber on a real
    Lambda client checks each self-invoke (the qualified ARN, InvocationType=Event)."""
    import io
    from types import SimpleNamespace

    from botocore.stub import ANY, Stubber
    from mlayer_function.deadletters import DeadLetters
    from mlayer_function.decoding import RowRules
    from mlayer_function.files import FileScorer
    from mlayer_function.modelstore import load_model
    from mlayer_function.retries import Deadline
    from mlayer_function.sinks import StdoutSink

    s3 = boto3.client("s3", endpoint_url=aws.endpoint_url, region_name=aws.region)
    for bucket in ("drop-in", "out"):
        s3.create_bucket(Bucket=bucket)
    body = "id,a,b,c,d\n" + "".join(f"r{i},{i},{i % 3},{i % 5},1.5\n" for i in range(10))
    etag = s3.put_object(Bucket="drop-in", Key="drop/ten rows.csv", Body=body.encode())["ETag"]
    lam = boto3.client("lambda", region_name=aws.region)
    stub = Stubber(lam)
    for _ in range(4):  # 10 rows + the header in chunks of 3: three hand-offs (one spare)
        expected = {"FunctionName": Context.invoked_function_arn, "InvocationType": "Event"}
        stub.add_response("invoke", {"StatusCode": 202}, {**expected, "Payload": ANY})
    stub.activate()
    model = load_model(model_layers["features"])
    app = SimpleNamespace(
        settings=SimpleNamespace(output="s3://out/scores/"),
        model=model,
        rules=RowRules("features", model.n_features),
        dead_letter=DeadLetters(StdoutSink(io.StringIO())),
        deadline=Deadline(),
    )
    env = {"MLAYER_FILE_CHUNK_RECORDS": "3", "MLAYER_FILE_RESERVE_MS": "600000"}
    scorer = FileScorer(app, lambda service: s3 if service == "s3" else lam, env)
    event = {
        "Records": [
            {
                "eventSource": "aws:s3",
                "s3": {
                    "bucket": {"name": "drop-in"},
                    "object": {"key": "drop/ten+rows.csv", "eTag": etag, "size": len(body)},
                },
            }
        ]
    }
    (first,) = scorer.handle(event, Context())["files"]
    assert first["status"] == "continued" and first["predicted"] == 2  # the header + 2 rows
    (second,) = scorer.handle(first["continuation"], Context())["files"]
    assert second["status"] == "continued" and second["predicted"] == 5
    (again,) = scorer.handle(first["continuation"], Context())["files"]
    assert again["status"] == "skipped" and "re-delivered" in again["detail"]
    (duplicate,) = scorer.handle(event, Context())["files"]  # S3's event again, mid-file
    assert duplicate["status"] == "skipped" and "continuation owns" in duplicate["detail"]
    step = second
    while step["status"] == "continued":
        (step,) = scorer.handle(step["continuation"], Context())["files"]
    assert step["status"] == "scored" and step["predicted"] == 10
    out = s3.get_object(Bucket="out", Key=step["output"].removeprefix("s3://out/"))
    lines = [json.loads(x) for x in out["Body"].read().decode().splitlines()]
    assert [o["id"] for o in lines] == [f"r{i}" for i in range(10)]
    assert [o["line"] for o in lines] == list(range(2, 12))
    listed = s3.list_objects_v2(Bucket="out", Prefix="scores/.mlayer-continuations/")
    assert listed.get("KeyCount") == 0  # the state and its parked tails are gone


def test_a_failure_before_any_saved_state_aborts_the_upload_it_started(aws, model_layers):
    """GIVEN a file whose output passed one part (the upload exists) and then a dead letter that
    cannot be sent (its queue is gone), WHEN the invocation fails, THEN no multipart upload is
    left behind (no state names it, so no later invocation would finish or abort it)."""
    from types import SimpleNamespace

    import pytest
    from mlayer_function.decoding import RowRules
    from mlayer_function.files import FileScorer
    from mlayer_function.modelstore import load_model
    from mlayer_function.retries import Deadline
    from mlayer_function.sinks import dead_letters_from_url, make_client

    s3 = boto3.client("s3", endpoint_url=aws.endpoint_url, region_name=aws.region)
    for bucket in ("drop-in", "out"):
        s3.create_bucket(Bucket=bucket)
    rows = "".join(f"r{i},{i % 7},{i % 3},{i % 5},1.5\n" for i in range(100_000))
    body = ("id,a,b,c,d\n" + rows + "bad,x,1,2,3\n").encode()
    etag = s3.put_object(Bucket="drop-in", Key="big.csv", Body=body)["ETag"]
    model = load_model(model_layers["features"])
    app = SimpleNamespace(
        settings=SimpleNamespace(output="s3://out/scores/"),
        model=model,
        rules=RowRules("features", model.n_features),
        dead_letter=dead_letters_from_url("sqs://no-such-queue"),
        deadline=Deadline(),
    )
    scorer = FileScorer(app, make_client, {"MLAYER_FILE_CHUNK_RECORDS": "50000"})
    record = {"s3": {"bucket": {"name": "drop-in"}, "object": {"key": "big.csv", "eTag": etag}}}
    record["s3"]["object"]["size"] = len(body)
    with pytest.raises(RuntimeError, match="dead letters of s3://drop-in/big.csv not written"):
        scorer.handle({"Records": [{"eventSource": "aws:s3", **record}]}, None)
    assert s3.list_multipart_uploads(Bucket="out").get("Uploads", []) == []
    assert s3.list_objects_v2(Bucket="out").get("KeyCount") == 0
