"""The real handler in a separate Python whose path is only Lambda's, with real sklearn models
and sinks on a moto server over HTTP.

One child process per model/sink configuration (module fixtures); each test owns a shard id,
so tests read back only their own writes and stay independent. The moto server is private to
this module, so no other test's reset can empty its tables in the middle.
"""

from __future__ import annotations

import json
import shutil

import pytest
from function_support import (
    LONG_SEQ_BASE,
    HandlerProcess,
    InitError,
    InvokeError,
    kinesis_event,
    sqs_event,
)
from handler_aws_support import aws_client, create_table_and_queue, shard_letters

pytestmark = pytest.mark.slow

TABLE, DLQ, BUCKET = "predictions", "dead-letters", "results"


@pytest.fixture(scope="module")
def resources(module_aws):
    create_table_and_queue(module_aws, TABLE, DLQ)
    aws_client(module_aws, "s3").create_bucket(Bucket=BUCKET)
    return module_aws


def start(tmp_path_factory, name, model_dir, deps_layer, runtime_dir, local, **env):
    return HandlerProcess(
        model_dir=model_dir,
        deps_layer=deps_layer,
        runtime_dir=runtime_dir,
        workdir=tmp_path_factory.mktemp(name),
        env={**local.env, **env},
    )


@pytest.fixture(scope="module")
def text_fn(tmp_path_factory, model_layers, deps_layer, runtime_dir, resources):
    """Text model -> DynamoDB, dead letters -> SQS."""
    proc = start(
        tmp_path_factory,
        "text-fn",
        model_layers["text"],
        deps_layer,
        runtime_dir,
        resources,
        MLAYER_OUTPUT_SINK=f"dynamodb://{TABLE}",
        MLAYER_OUTPUT_DEAD_LETTER=f"sqs://{DLQ}",
        MLAYER_DEAD_LETTER_OVERFLOW=f"s3://{BUCKET}/dead-letters/",
        MLAYER_MAX_TEXT_CHARS="200",
    )
    yield proc
    proc.close()


@pytest.fixture(scope="module")
def numeric_fn(tmp_path_factory, model_layers, deps_layer, runtime_dir, resources):
    """Feature model -> S3 JSON lines, dead letters -> S3."""
    proc = start(
        tmp_path_factory,
        "numeric-fn",
        model_layers["features"],
        deps_layer,
        runtime_dir,
        resources,
        MLAYER_OUTPUT_SINK=f"s3://{BUCKET}/predictions",
        MLAYER_OUTPUT_DEAD_LETTER=f"s3://{BUCKET}/dead",
    )
    yield proc
    proc.close()


def items_of(local, shard: str) -> list[dict]:
    pages = aws_client(local, "dynamodb").get_paginator("scan").paginate(TableName=TABLE)
    items = [item for page in pages for item in page["Items"]]
    return sorted(
        (i for i in items if i["event_id"]["S"].startswith(shard + ":")),
        key=lambda i: int(i["event_id"]["S"].rpartition(":")[2]),
    )


def dead_letters_of(local, shard: str) -> list[dict]:
    return shard_letters(local, DLQ, shard)


def good(n: int, prefix: str) -> list[dict]:
    texts = ["win free money now", "see you at the meeting", "claim your free prize"]
    return [{"id": f"{prefix}-{i}", "text": texts[i % len(texts)]} for i in range(n)]


def failures(response: dict) -> list[str]:
    """The identifiers, after checking the exact shape Lambda requires."""
    assert set(response) == {"batchItemFailures"}
    for failure in response["batchItemFailures"]:
        assert set(failure) == {"itemIdentifier"}
        assert isinstance(failure["itemIdentifier"], str) and failure["itemIdentifier"]
    return [f["itemIdentifier"] for f in response["batchItemFailures"]]


def accounted(metrics: dict) -> bool:
    return metrics["predicted"] + metrics["dead_lettered"] + metrics["failed"] == metrics["records"]


# ------------------------------------------------------------------ the child is Lambda-like


def test_the_child_sees_only_the_function_the_layer_and_the_runtime(
    text_fn, deps_layer, runtime_dir
):
    info = text_fn.info()
    assert not any("site-packages" in p for p in info["sys_path"])
    assert info["modules"]["boto3"].startswith(str(runtime_dir))
    assert info["modules"]["sklearn"].startswith(str(deps_layer))
    # the result lines' encoder: the layer's orjson, loaded with the function (delivery.py)
    assert info["modules"]["orjson"].startswith(str(deps_layer))


def test_only_the_function_package_sits_first_on_the_path(
    tmp_path, model_layers, deps_layer, runtime_dir
):
    """A user's --code module named like one of ours (batch, handler, sinks) is not shadowed."""
    user_python = tmp_path / "opt-python"
    user_python.mkdir()
    for name in ("batch", "handler", "sinks", "decoding"):
        (user_python / f"{name}.py").write_text(f"WHO = 'user {name}'\n")
    proc = HandlerProcess(
        model_dir=model_layers["text"],
        deps_layer=deps_layer,
        runtime_dir=runtime_dir,
        workdir=tmp_path / "run",
        env={"MLAYER_OUTPUT_SINK": "stdout://"},
        user_python=user_python,
    )
    try:
        info = proc.info(["batch", "handler", "sinks", "decoding"])
        assert proc.invoke(kinesis_event(good(2, "u"))) == {"batchItemFailures": []}
    finally:
        proc.close()
    assert all(path.startswith(str(user_python)) for path in info["imported"].values())
    assert {name.split(".")[0] for name in info["from_function_dir"]} == {"mlayer_function"}


def test_cold_start_logs_one_structured_line(text_fn, model_layers):
    (init,) = [line for line in text_fn.log_lines() if line.get("message") == "model loaded"]
    assert init["level"] == "INFO" and init["model_version"] == "v1"
    assert init["load_ms"] > 0 and init["input_kind"] == "text"
    manifest = json.loads((model_layers["text"] / "manifest.json").read_text())
    assert [a["size"] for a in init["artifacts"]] == [a["size"] for a in manifest["artifacts"]]


# ------------------------------------------------------------------ Kinesis -> DynamoDB


def test_all_good_records_are_predicted_and_written_once(text_fn, resources):
    shard = "shardId-000000000001"
    response = text_fn.invoke(kinesis_event(good(5, "g"), shard=shard))

    assert failures(response) == []
    items = items_of(resources, shard)
    assert [i["id"]["S"] for i in items] == [f"g-{n}" for n in range(5)]
    first = items[0]
    assert first["prediction"]["S"] == "spam"  # "win free money now"
    assert items[1]["prediction"]["S"] == "ham"
    probas = {k: float(v["N"]) for k, v in first["probabilities"]["M"].items()}
    assert set(probas) == {"ham", "spam"} and abs(sum(probas.values()) - 1) < 1e-9
    assert first["model_version"]["S"] == "v1"
    assert first["predicted_at"]["S"].endswith("Z")
    metrics = text_fn.metrics()[-1]
    assert (metrics["records"], metrics["predicted"], metrics["failed"]) == (5, 5, 0)


def test_a_100_record_batch_is_written_in_four_batch_write_calls(text_fn, resources):
    shard = "shardId-000000000009"
    # A fault that holds nothing back: it only counts the BatchWriteItem calls it sees.
    text_fn.set_faults(
        [{"operation": "dynamodb.BatchWriteItem", "mode": "unprocessed", "ids": ["none"]}]
    )
    try:
        response = text_fn.invoke(kinesis_event(good(100, "c"), shard=shard))
    finally:
        (counter,) = text_fn.set_faults([])
    assert failures(response) == []
    assert counter["_used"] == 4
    assert len(items_of(resources, shard)) == 100


def test_each_batch_logs_one_embedded_metric_format_line(text_fn):
    before = len(text_fn.metrics())
    text_fn.invoke(kinesis_event(good(3, "e"), shard="shardId-000000000008"))
    (emf,) = text_fn.metrics()[before:]
    (directive,) = emf["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "mlayer"
    assert directive["Dimensions"] == [["function", "model_version"]]
    names = {m["Name"]: m["Unit"] for m in directive["Metrics"]}
    assert names == {
        "records": "Count",
        "predicted": "Count",
        "dead_lettered": "Count",
        "failed": "Count",
        "decode_ms": "Milliseconds",
        "predict_ms": "Milliseconds",
        "deliver_ms": "Milliseconds",
    }
    for name in names:  # every metric is a top-level number, as EMF requires
        assert isinstance(emf[name], (int, float))
    assert (emf["records"], emf["predicted"], emf["dead_lettered"], emf["failed"]) == (3, 3, 0, 0)
    assert emf["model_version"] == "v1" and emf["function"] == "mlayer-predict"
    assert isinstance(emf["_aws"]["Timestamp"], int) and emf["source"] == "kinesis"


def test_all_bad_records_go_to_the_dead_letter_queue_and_are_not_retried(text_fn, resources):
    shard = "shardId-000000000002"
    payloads = ["@@@", "/w==", "bm90IGpzb24=", "WzEsMl0="]  # bad b64, not UTF-8, not JSON, list
    response = text_fn.invoke(kinesis_event(payloads, shard=shard, raw=True))

    assert failures(response) == []
    letters = dead_letters_of(resources, shard)
    assert sorted(letter["data"] for letter in letters) == sorted(payloads)
    reasons = sorted(letter["reason"].split(":")[0] for letter in letters)
    assert reasons == ["bad base64", "not JSON", "not UTF-8", "not a JSON object"]
    assert items_of(resources, shard) == []
    assert text_fn.metrics()[-1]["dead_lettered"] == 4


def test_a_mixed_batch_accounts_for_every_record(text_fn, resources):
    shard = "shardId-000000000003"
    payloads = good(3, "m") + [
        {"text": "no id"},
        {"id": "m-long", "text": "x" * 201},
        {"id": "m-type", "text": 12},
    ]
    response = text_fn.invoke(kinesis_event(payloads, shard=shard, first_seq=LONG_SEQ_BASE))

    assert failures(response) == []
    assert len(items_of(resources, shard)) == 3
    reasons = sorted(d["reason"] for d in dead_letters_of(resources, shard))
    assert reasons[0] == "no id"
    assert reasons[1].startswith("text too long: text has 201 characters, limit 200")
    assert reasons[2].startswith("wrong type: text must be a string")
    metrics = text_fn.metrics()[-1]
    assert (metrics["predicted"], metrics["dead_lettered"], metrics["failed"]) == (3, 3, 0)
    assert accounted(metrics)


def test_an_empty_batch_succeeds(text_fn):
    assert text_fn.invoke({"Records": []}) == {"batchItemFailures": []}


def test_the_same_batch_delivered_twice_leaves_no_duplicates(text_fn, resources):
    shard = "shardId-000000000004"
    event = kinesis_event(good(6, "d"), shard=shard, first_seq=LONG_SEQ_BASE)
    assert failures(text_fn.invoke(event)) == []
    assert failures(text_fn.invoke(event)) == []
    assert len(items_of(resources, shard)) == 6


def test_a_replay_rewrites_the_rows_with_the_model_that_made_them(text_fn, resources):
    """A batch delivered again after a model change: last write wins, one row per event."""
    shard = "shardId-000000000007"
    event = kinesis_event(good(4, "r"), shard=shard, first_seq=LONG_SEQ_BASE)
    earlier = {
        "event_id": {"S": f"{shard}:{LONG_SEQ_BASE + 1}"},
        "id": {"S": "r-1"},
        "prediction": {"S": "spam"},
        "model_version": {"S": "v0"},
    }
    aws_client(resources, "dynamodb").put_item(TableName=TABLE, Item=earlier)

    assert failures(text_fn.invoke(event)) == []
    items = items_of(resources, shard)
    assert [i["model_version"]["S"] for i in items] == ["v1"] * 4
    assert items[1]["id"] == {"S": "r-1"} and items[1]["prediction"] == {"S": "ham"}
    metrics = text_fn.metrics()[-1]
    assert (metrics["predicted"], metrics["failed"]) == (4, 0)


def test_a_sink_that_throttles_then_recovers_loses_nothing(text_fn, resources):
    shard = "shardId-000000000005"
    throttle = {"mode": "error", "code": "ProvisionedThroughputExceededException"}
    text_fn.set_faults(
        [
            {"operation": "dynamodb.BatchWriteItem", "times": 1, **throttle},
            {"operation": "dynamodb.BatchWriteItem", "mode": "unprocessed", "times": 2},
        ]
    )
    try:
        response = text_fn.invoke(kinesis_event(good(30, "t"), shard=shard))
    finally:
        throttled, unprocessed = text_fn.set_faults([])
    assert failures(response) == []
    assert len(items_of(resources, shard)) == 30
    assert (throttled["_used"], unprocessed["_used"]) == (1, 2)  # then retried, all written
    assert text_fn.metrics()[-1]["predicted"] == 30


@pytest.mark.parametrize(
    ("first_seq", "shard"),
    [(1, "shardId-000000000011"), (LONG_SEQ_BASE + 95, "shardId-000000000012")],
    ids=["moto-seq", "56-digit-seq"],
)
def test_a_sink_that_keeps_failing_reports_the_first_undelivered_record(
    text_fn, resources, first_seq, shard
):
    # Records 8 and 12 are never taken; 8+first_seq crosses a power of ten for the short case.
    payloads = good(14, "f")
    text_fn.set_faults(
        [{"operation": "dynamodb.BatchWriteItem", "mode": "unprocessed", "ids": ["f-12", "f-8"]}]
    )
    try:
        response = text_fn.invoke(kinesis_event(payloads, shard=shard, first_seq=first_seq))
    finally:
        text_fn.set_faults([])

    assert failures(response) == [str(first_seq + 8)]
    written = [i["id"]["S"] for i in items_of(resources, shard)]
    assert "f-8" not in written and "f-12" not in written
    assert {f"f-{n}" for n in range(8)} <= set(written)
    metrics = text_fn.metrics()[-1]
    assert (metrics["predicted"], metrics["failed"]) == (8, 6) and accounted(metrics)
    assert metrics["checkpoint"] == str(first_seq + 8)


def test_a_result_dynamodb_refuses_is_dead_lettered_and_its_neighbours_written(text_fn, resources):
    shard = "shardId-000000000013"
    text_fn.set_faults(
        [
            {"operation": op, "mode": "error", "code": "ValidationException", "ids": ["v-2"]}
            for op in ("dynamodb.BatchWriteItem", "dynamodb.PutItem")
        ]
    )
    try:
        response = text_fn.invoke(kinesis_event(good(5, "v"), shard=shard, first_seq=40))
    finally:
        text_fn.set_faults([])
    assert failures(response) == []
    assert [i["id"]["S"] for i in items_of(resources, shard)] == ["v-0", "v-1", "v-3", "v-4"]
    (letter,) = dead_letters_of(resources, shard)
    assert letter["reason"].startswith("refused by dynamodb://predictions: ClientError")
    assert "ValidationException" in letter["reason"]
    metrics = text_fn.metrics()[-1]
    assert (metrics["predicted"], metrics["dead_lettered"], metrics["failed"]) == (4, 1, 0)


def test_bad_records_are_reported_when_the_dead_letter_queue_fails(text_fn, resources):
    shard = "shardId-000000000006"
    payloads = good(2, "q") + [{"text": "no id"}] + good(2, "r")
    text_fn.set_faults(
        [{"operation": "sqs.SendMessageBatch", "mode": "error", "code": "AccessDenied"}]
    )
    try:
        response = text_fn.invoke(kinesis_event(payloads, shard=shard, first_seq=100))
    finally:
        text_fn.set_faults([])

    assert failures(response) == ["102"]
    # Results go before dead letters: r-0 and r-1 are written, and rewritten (same rows) by
    # the retry from 102.
    assert [i["id"]["S"] for i in items_of(resources, shard)] == ["q-0", "q-1", "r-0", "r-1"]
    assert any("dead-letter" in line.get("message", "") for line in text_fn.log_lines())


# ------------------------------------------------------------------ other event shapes


def test_an_sqs_event_reports_failed_message_ids(text_fn, resources):
    bodies = [json.dumps(p) for p in good(3, "s")] + ["not json"]
    text_fn.set_faults(
        [{"operation": "dynamodb.BatchWriteItem", "mode": "unprocessed", "ids": ["s-1"]}]
    )
    try:
        response = text_fn.invoke(sqs_event(bodies, prefix="sqs-a"))
    finally:
        text_fn.set_faults([])
    assert failures(response) == ["sqs-a-1"]
    assert text_fn.metrics()[-1]["source"] == "sqs"


def test_a_direct_invocation_returns_predictions_synchronously(text_fn):
    response = text_fn.invoke(
        {"instances": [{"id": "x", "text": "free money prize"}, "lunch at noon?", {"id": "y"}]}
    )
    assert response["model_version"] == "v1"
    first, second, third = response["predictions"]
    assert first["id"] == "x" and first["prediction"] == "spam"
    assert second["id"] == 1 and second["prediction"] == "ham"
    assert third == {"id": "y", "error": "no text"}


def test_an_unknown_event_is_a_function_error(text_fn):
    with pytest.raises(InvokeError, match="unrecognized event"):
        text_fn.invoke({"hello": "world"})


# ------------------------------------------------------------------ features -> S3


def s3_lines(local, prefix: str) -> dict[str, list[dict]]:
    s3 = aws_client(local, "s3")
    out = {}
    for obj in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []):
        body = s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read().decode()
        out[obj["Key"]] = [json.loads(line) for line in body.splitlines()]
    return out


def test_features_to_s3_one_object_per_batch_keyed_by_sequence_numbers(numeric_fn, resources):
    shard = "shardId-000000000020"
    payloads = [
        {"id": 1, "features": [3.0, 3.0, 0.0, 0.0]},
        {"id": 2, "features": [-3.0, -3.0, 0.0, 0.0]},
        {"id": 3, "features": [1.0, 2.0]},
        {"id": 4, "features": [1.0, "a", 0.0, 0.0]},
        {"id": 5, "features": [0.5, 0.5, 0.5, 0.5]},
    ]
    event = kinesis_event(payloads, shard=shard, first_seq=LONG_SEQ_BASE)
    assert failures(numeric_fn.invoke(event)) == []
    assert failures(numeric_fn.invoke(event)) == []  # delivered again: same keys, overwritten

    results = s3_lines(resources, f"predictions/{shard}/")
    first, last = LONG_SEQ_BASE, LONG_SEQ_BASE + 4
    assert list(results) == [f"predictions/{shard}/{first}-{last}.jsonl"]
    lines = results[f"predictions/{shard}/{first}-{last}.jsonl"]
    assert [(r["id"], r["prediction"]) for r in lines] == [(1, 1), (2, 0), (5, 1)]
    assert set(lines[0]["probabilities"]) == {"0", "1"}
    dead = s3_lines(resources, f"dead/{shard}/")
    assert len(dead) == 1
    reasons = [d["reason"] for d in next(iter(dead.values()))]
    assert reasons == [
        "wrong number of features: got 2, expected 4",
        "wrong type: features[1] must be a number, got str",
    ]


def test_s3_throttling_is_retried_and_a_lasting_failure_is_reported(numeric_fn, resources):
    shard = "shardId-000000000021"
    payloads = [{"id": i, "features": [i, 0, 0, 0]} for i in range(4)]
    numeric_fn.set_faults(
        [
            {
                "operation": "s3.PutObject",
                "mode": "error",
                "code": "SlowDown",
                "status": 503,
                "times": 2,
            }
        ]
    )
    response = numeric_fn.invoke(kinesis_event(payloads, shard=shard, first_seq=10))
    assert failures(response) == []
    assert len(s3_lines(resources, f"predictions/{shard}/")) == 1

    shard = "shardId-000000000022"
    numeric_fn.set_faults([{"operation": "s3.PutObject", "mode": "error", "code": "AccessDenied"}])
    try:
        response = numeric_fn.invoke(kinesis_event(payloads, shard=shard, first_seq=10))
    finally:
        numeric_fn.set_faults([])
    assert failures(response) == ["10"]
    metrics = numeric_fn.metrics()[-1]
    assert (metrics["failed"], metrics["records"]) == (4, 4)


# ------------------------------------------------------------------ integrity at cold start


def test_a_tampered_artifact_fails_the_init(tmp_path, model_layers, deps_layer, runtime_dir):
    model_dir = tmp_path / "opt" / "mlayer"
    shutil.copytree(model_layers["text"], model_dir)
    artifact = model_dir / "02-model.joblib"
    data = bytearray(artifact.read_bytes())
    data[len(data) // 2] ^= 0x01  # same size, one bit different
    artifact.write_bytes(bytes(data))

    with pytest.raises(InitError) as info:
        HandlerProcess(
            model_dir=model_dir,
            deps_layer=deps_layer,
            runtime_dir=runtime_dir,
            workdir=tmp_path / "run",
            env={"MLAYER_OUTPUT_SINK": "stdout://"},
        )
    assert info.value.error["errorType"] == "ModelIntegrityError"
    assert "02-model.joblib" in info.value.error["errorMessage"]
    assert "sha256" in info.value.error["errorMessage"]


def test_a_missing_manifest_fails_the_init(tmp_path, deps_layer, runtime_dir):
    with pytest.raises(InitError, match="no model manifest"):
        HandlerProcess(
            model_dir=tmp_path / "nowhere",
            deps_layer=deps_layer,
            runtime_dir=runtime_dir,
            workdir=tmp_path / "run",
            env={},
        )
