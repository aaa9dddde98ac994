"""Issue 28 through the CLI: files dropped in a bucket are scored, once, whatever happens.

One `mlayer deploy-function` per module ([trigger] s3 on a prefix, chunk_records = 4, the
output sink s3:// in another bucket, SQS dead letters, the real dependencies layer and a
published text model), then objects scored with `mlayer invoke --local --s3 s3://B/KEY` in
the emulation (the real runtime interface client): each output line's prediction is the
pipeline's own on the same row, each row is in the output or dead-lettered exactly once, and
re-delivered or outdated events change nothing.
"""

from __future__ import annotations

import csv
import io
import json

import boto3
import joblib
import pytest
from click.testing import CliRunner
from deployed_support import function_toml, gateway, publish_real_deps, text_model_args, use
from publish_support import train_text_pipeline

from mlayer.cli import cli
from mlayer.local import sandbox
from mlayer.local.aws import embedded_aws
from mlayer.local.file_invoke import event_for_object

pytestmark = pytest.mark.slow
NAME, ART, IN, OUT, DLQ = "filer", "filer-art", "filer-in", "filer-out", "filer-dlq"
TEXTS = ["win free money now", "see you at the meeting", "free prize, click", "lunch at noon?"]


def mlayer(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def own_aws():
    """An embedded AWS of this module's own, in a child process: with the worker's in-process
    one (module_aws), a second deploy-function after the S3 trigger's set-up and a publish
    read another CodeSha256 than it wrote and redeployed the code."""
    with embedded_aws(isolated=True) as local:
        yield local


@pytest.fixture(scope="module")
def deployed(own_aws, deps_layer_build, tmp_path_factory):
    """(gateway, folder, the pipeline's three steps) of the deployed function."""
    work = tmp_path_factory.mktemp("filer")
    with pytest.MonkeyPatch.context() as mp:
        use(mp, own_aws, work)
        gw = gateway(own_aws)
        for bucket in (IN, OUT):
            gw.ensure_bucket(bucket)
        publish_real_deps(gw, ART, f"{NAME}-deps", deps_layer_build)
        sandbox.ensure_queue(gw, DLQ)
        role = sandbox.ensure_lambda_role(gw, "filer-role")
        (work / "mlayer.toml").write_text(
            function_toml(NAME, role, deps_layer_build, ART)
            + f'[trigger]\ns3 = "s3://{IN}/drop/"\nchunk_records = 4\n'
            f'[output]\nsink = "s3://{OUT}/scores/"\ndead_letter = "sqs://{DLQ}"\n'
        )
        result = mlayer("--json", "deploy-function", "--yes")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["file_trigger"]["action"] == "updated"
        paths = train_text_pipeline(work / "model")
        result = mlayer("--json", *text_model_args(paths))
        assert result.exit_code == 0, result.output
        steps = [joblib.load(paths[k]) for k in ("countvectorizer", "tfidf", "model")]
    return gw, work, steps


@pytest.fixture(autouse=True)
def _in_the_deployed_folder(deployed, own_aws, monkeypatch):
    use(monkeypatch, own_aws, deployed[1])


def s3(own_aws):
    return boto3.client("s3", endpoint_url=own_aws.endpoint_url, region_name=own_aws.region)


def expected(steps, texts: list[str]) -> list[tuple[object, dict]]:
    """What the pipeline itself predicts on these texts: (label, {class: probability})."""
    cv, tf, lr = steps
    x = tf.transform(cv.transform(texts))
    probas = lr.predict_proba(x).tolist()
    return [
        (label, {str(c): p for c, p in zip(lr.classes_.tolist(), row, strict=True)})
        for label, row in zip(lr.predict(x).tolist(), probas, strict=True)
    ]


def score(uri: str) -> dict:
    result = mlayer("--json", "invoke", "--local", "--s3", uri)
    assert result.exit_code == 0, result.output[-3000:]
    return json.loads(result.stdout)


def output_lines(own_aws, key: str) -> list[dict]:
    body = s3(own_aws).get_object(Bucket=OUT, Key=key)["Body"].read().decode()
    return [json.loads(line) for line in body.splitlines()]


LETTERS: list[dict] = []


def letters_for(gw, source: str) -> list[dict]:
    LETTERS.extend(json.loads(body) for body in sandbox.receive_all(gw, DLQ))
    return [letter for letter in LETTERS if letter["source"] == source]


def test_deploy_function_adds_the_notification_and_the_permission_once(deployed):
    gw, _, _ = deployed
    notes = {n.id: n for n in gw.lambda_notifications(IN)}
    assert sorted(notes) == [f"mlayer-{NAME}-csv", f"mlayer-{NAME}-jsonl"]
    assert {(n.prefix, n.suffix) for n in notes.values()} == {
        ("drop/", ".csv"),
        ("drop/", ".jsonl"),
    }
    assert all(n.events == ("s3:ObjectCreated:*",) for n in notes.values())
    (statement,) = [p for p in gw.invoke_permissions(NAME) if p.sid == f"mlayer-s3-{IN}"]
    assert statement.principal == "s3.amazonaws.com"
    assert statement.source_arn == f"arn:aws:s3:::{IN}"
    env = gw.get_function_configuration(NAME)["Environment"]["Variables"]
    assert env["MLAYER_FILE_CHUNK_RECORDS"] == "4"
    again = json.loads(mlayer("--json", "deploy-function", "--yes").stdout)
    assert again["file_trigger"]["action"] == "unchanged", again["file_trigger"]
    assert again["changed"] is False, (again["changes"], again["code"])


def test_an_output_under_the_watched_prefix_is_refused_naming_both(deployed, monkeypatch):
    monkeypatch.setenv("MLAYER_OUTPUT_SINK", f"s3://{IN}/drop/")
    result = CliRunner().invoke(cli, ["deploy-function", "--yes"])
    assert result.exit_code == 2
    assert f"s3://{IN}/drop/" in result.output and "[trigger] s3" in result.output
    assert "output.sink" in result.output and "recursive loop" in result.output


def test_a_csv_with_bad_rows_under_a_key_with_spaces_and_unicode_is_scored_once(deployed, own_aws):
    gw, _, steps = deployed
    key = "drop/día 1/ventas de hoy.csv"
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["id", "text"])
    rows = [[f"c{i}", TEXTS[i % 4]] for i in range(9)]
    rows[3][1] = "free money\nsplit over two lines"  # a quoted newline: one row, two lines
    for row in rows:
        writer.writerow(row)
    raw = out.getvalue().encode() + b"short-row\n" + b'c9,"caf\xe9"\n' + b"c10,lunch\n"
    put = s3(own_aws).put_object(Bucket=IN, Key=key, Body=raw)
    etag = put["ETag"].strip('"')

    doc = score(f"s3://{IN}/{key}")
    (first,) = doc["response"]["files"]
    assert first["status"] == "scored" and first["input"] == f"s3://{IN}/{key}"
    out_key = f"scores/{key}.{etag}.{first['model_version']}.jsonl"
    assert first["output"] == f"s3://{OUT}/{out_key}"
    lines = output_lines(own_aws, out_key)
    texts = [r[1] for r in rows] + ["lunch"]
    want = expected(steps, texts)
    assert [o["id"] for o in lines] == [r[0] for r in rows] + ["c10"]
    assert [o["line"] for o in lines] == [2, 3, 4, 5, 7, 8, 9, 10, 11, 14]
    assert [(o["prediction"], o["probabilities"]) for o in lines] == want
    assert {o["model_version"] for o in lines} == {first["model_version"]}
    emf = [json.loads(x) for x in doc["logs"] if x.startswith('{"_aws"')]
    assert [(m["source"], m["records"], m["predicted"], m["dead_lettered"]) for m in emf] == [
        ("s3", 12, 10, 2)
    ]  # the function's metrics line, with the stream's names
    letters = letters_for(gw, f"s3://{IN}/{key}")
    assert [(x["line"], x["reason"][:22]) for x in letters] == [
        (12, "wrong number of fields"),
        (13, "not UTF-8: byte 7 (inv"),
    ]
    assert {x["etag"] for x in letters} == {etag}
    # every data line (2..14, the quoted row spanning 5-6) is in exactly one place
    assert sorted([o["line"] for o in lines] + [x["line"] for x in letters]) == [
        2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14,
    ]  # fmt: skip

    again = score(f"s3://{IN}/{key}")  # the same event delivered again
    assert again["response"]["files"][0]["status"] == "skipped"
    assert "already scored" in again["response"]["files"][0]["detail"]
    assert output_lines(own_aws, out_key) == lines
    assert len(letters_for(gw, f"s3://{IN}/{key}")) == 2


def test_json_lines_with_bad_rows_are_scored_and_dead_lettered_with_line_numbers(deployed, own_aws):
    gw, _, steps = deployed
    key = "drop/ünï cödé+plus.jsonl"
    body = "\n".join(
        [
            json.dumps({"id": "j0", "text": TEXTS[0]}),
            "not json",
            json.dumps({"text": TEXTS[1]}),  # no id: the output line has none
            "",
            json.dumps({"id": "j3", "words": "no text"}),
            json.dumps({"id": "j4", "text": TEXTS[2]}),
        ]
    )
    s3(own_aws).put_object(Bucket=IN, Key=key, Body=body.encode())
    (first,) = score(f"s3://{IN}/{key}")["response"]["files"]
    assert first["status"] == "scored" and first["input"] == f"s3://{IN}/{key}"
    lines = output_lines(own_aws, first["output"].removeprefix(f"s3://{OUT}/"))
    assert [(o.get("id"), o["line"]) for o in lines] == [("j0", 1), (None, 3), ("j4", 6)]
    assert [(o["prediction"], o["probabilities"]) for o in lines] == expected(
        steps, [TEXTS[0], TEXTS[1], TEXTS[2]]
    )
    letters = letters_for(gw, f"s3://{IN}/{key}")
    assert [(x["line"], x["reason"]) for x in letters] == [
        (2, "not JSON: Expecting value at 1:1"),
        (5, "no text"),
    ]
    assert letters[0]["data"] == "not json"


def test_an_event_for_an_older_etag_scores_nothing_and_the_newer_one_gets_its_own(
    deployed, own_aws, tmp_path
):
    gw, _, _ = deployed
    key = "drop/replaced.jsonl"
    s3(own_aws).put_object(Bucket=IN, Key=key, Body=b'{"id": "old", "text": "win"}\n')
    old_event = event_for_object(gw, f"s3://{IN}/{key}")
    s3(own_aws).put_object(Bucket=IN, Key=key, Body=b'{"id": "new", "text": "lunch"}\n')
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old_event))
    result = mlayer("--json", "invoke", "--local", "--event", str(path))
    assert result.exit_code == 0, result.output[-3000:]
    (stale,) = json.loads(result.stdout)["response"]["files"]
    assert stale["status"] == "skipped" and "the object changed" in stale["detail"]
    keys = sandbox.list_keys(gw, OUT, "scores/drop/replaced")
    assert keys == []
    (fresh,) = score(f"s3://{IN}/{key}")["response"]["files"]
    assert fresh["status"] == "scored" and fresh["etag"] != stale["etag"]
    assert [o["id"] for o in output_lines(own_aws, fresh["output"][len(f"s3://{OUT}/") :])] == [
        "new"
    ]


def test_a_file_needing_three_continuations_has_every_row_once(deployed, own_aws, tmp_path):
    gw, _, steps = deployed
    config = gw.get_function_configuration(NAME)
    env = config["Environment"]["Variables"]
    lam = boto3.client("lambda", endpoint_url=own_aws.endpoint_url, region_name=own_aws.region)
    # a reserve longer than the timeout: each invocation scores one batch of 4 records (the
    # header is the first batch's first) and hands off: 16 records, 4 invocations
    lam.update_function_configuration(
        FunctionName=NAME, Environment={"Variables": {**env, "MLAYER_FILE_RESERVE_MS": "600000"}}
    )
    try:
        key = "drop/big file.csv"
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(
            [["id", "text"], *([f"b{i}", TEXTS[i % 4]] for i in range(14)), ["bad", "row", "x"]]
        )
        body = out.getvalue()
        s3(own_aws).put_object(Bucket=IN, Key=key, Body=body.encode())
        doc = score(f"s3://{IN}/{key}")
    finally:
        lam.update_function_configuration(FunctionName=NAME, Environment={"Variables": env})
    statuses = [i["response"]["files"][0]["status"] for i in doc["invocations"]]
    assert statuses == ["continued", "continued", "continued", "scored"]
    last = doc["invocations"][-1]["response"]["files"][0]
    assert last["invocations"] == 4 and last["predicted"] == 14 and last["dead_lettered"] == 1
    lines = output_lines(own_aws, last["output"][len(f"s3://{OUT}/") :])
    assert [o["id"] for o in lines] == [f"b{i}" for i in range(14)]
    assert [o["line"] for o in lines] == list(range(2, 16))
    assert [(o["prediction"], o["probabilities"]) for o in lines] == expected(
        steps, [TEXTS[i % 4] for i in range(14)]
    )
    assert [x["line"] for x in letters_for(gw, f"s3://{IN}/{key}")] == [16]
    assert sandbox.list_keys(gw, OUT, "scores/.mlayer-continuations/") == []  # state cleaned up
    # a continuation delivered again (Lambda's async queue is at least once): nothing changes
    replayed = tmp_path / "continuation.json"
    replayed.write_text(json.dumps(doc["invocations"][1]["response"]["files"][0]["continuation"]))
    result = mlayer("--json", "invoke", "--local", "--event", str(replayed))
    assert result.exit_code == 0, result.output[-3000:]
    assert json.loads(result.stdout)["response"]["files"][0]["status"] == "done"
    assert output_lines(own_aws, last["output"][len(f"s3://{OUT}/") :]) == lines
    assert len(letters_for(gw, f"s3://{IN}/{key}")) == 1
