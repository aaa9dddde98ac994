"""Hostile records through the real decoder, a real sklearn model and the real sink code.

GIVEN any mix of good and hostile payloads (huge integers, deep nesting, huge strings, lone
surrogates, NaN/Infinity literals, ids and texts of every JSON type, invalid UTF-8, 1 MB and
5 MB texts), WHEN the batch is processed, THEN every record ends in exactly one state, every
good one is predicted, nothing fails while the sinks are up, and every dead letter carries a
reason and its raw data (in S3 when the letter would not fit its SQS queue).

The sinks are the function's own classes with in-memory clients that enforce AWS's limits.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "function"))

from mlayer_function.batch import (  # noqa: E402
    DEAD_LETTERED,
    PREDICTED,
    InRecord,
    process_batch,
)
from mlayer_function.deadletters import DeadLetters, OverflowStore  # noqa: E402
from mlayer_function.decoding import RowRules  # noqa: E402
from mlayer_function.delivery import Retry  # noqa: E402
from mlayer_function.sinks import SqsSink, StdoutSink  # noqa: E402

MIB = 1024 * 1024


class Clock:
    def now(self) -> datetime:
        return datetime(2026, 11, 24, 7, 0, tzinfo=timezone.utc)

    def monotonic(self) -> float:
        return 0.0


class TextModel:
    """HashingVectorizer -> LogisticRegression: a real vectorized predict on real strings."""

    version = "v1"

    def __init__(self) -> None:
        from sklearn.feature_extraction.text import HashingVectorizer
        from sklearn.linear_model import LogisticRegression

        self.vec = HashingVectorizer(n_features=256)
        texts = ["win money now", "free prize", "lunch at noon", "see you at the meeting"]
        self.clf = LogisticRegression().fit(self.vec.transform(texts), [1, 1, 0, 0])

    def predict(self, rows):
        x = self.vec.transform(rows)
        probas = self.clf.predict_proba(x).tolist()
        return self.clf.predict(x).tolist(), [{"0": p[0], "1": p[1]} for p in probas]


MODEL = TextModel()


class FakeSqs:
    """SendMessageBatch as SQS enforces it: 10 entries, 1 MiB per message and per call."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.calls = 0

    def get_queue_url(self, QueueName):
        return {"QueueUrl": f"https://sqs.local/{QueueName}"}

    def send_message_batch(self, QueueUrl, Entries):
        self.calls += 1
        sizes = [len(e["MessageBody"].encode()) for e in Entries]
        assert len(Entries) <= 10 and max(sizes) <= MIB and sum(sizes) <= MIB
        self.bodies.extend(json.loads(e["MessageBody"]) for e in Entries)
        return {"Successful": [{"Id": e["Id"]} for e in Entries]}


class FakeS3:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put_object(self, Bucket, Key, Body, **_):
        self.objects[f"s3://{Bucket}/{Key}"] = Body


def sinks():
    out = io.StringIO()
    sqs, s3 = FakeSqs(), FakeS3()
    retry = Retry(attempts=2, sleep=lambda _: None)
    dead = DeadLetters(
        SqsSink(sqs, "dead", retry), OverflowStore(s3, "artifacts", "dead-letters/", retry)
    )
    return StdoutSink(out), out, dead, sqs, s3


def kinesis(i: int, raw: bytes) -> InRecord:
    return InRecord(
        f"shardId-000000000000:{i}", str(i), base64.b64encode(raw).decode(), "base64", i
    )


def sqs_record(i: int, body: str) -> InRecord:
    return InRecord(f"msg-{i}", f"msg-{i}", body, "text", i)


def run(records, rules=RowRules("text", None, 10_000)):
    output, out, dead, sqs, s3 = sinks()
    outcome = process_batch(
        records, model=MODEL, rules=rules, output=output, dead_letter=dead, clock=Clock()
    )
    # lines end at "\n" only, as Lambda's log capture and the emulation's read them: a result
    # may hold U+0085 or U+2028 as it is, which str.splitlines() takes for line ends
    written = [json.loads(line) for line in out.getvalue().split("\n") if line]
    return outcome, written, sqs.bodies, s3.objects


def raw_data_of(letter: dict, objects: dict[str, bytes]) -> object:
    """A dead letter's raw data, from the letter or from S3 (checking its size and sha256)."""
    if "data_s3" in letter:
        pointer = letter["data_s3"]
        body = objects[pointer["uri"]]
        assert len(body) == pointer["size"]
        assert hashlib.sha256(body).hexdigest() == pointer["sha256"]
        return body.decode()
    if "data_json" in letter:
        return json.loads(letter["data_json"])
    return letter["data"]


def check_accounting(records, outcome, written, letters, objects, good_ids=()):
    m = outcome.metrics
    assert m.predicted + m.dead_lettered + m.failed == m.records == len(records)
    assert m.failed == 0  # every sink is up: nothing is left to Lambda's retry
    by_event = {r.record.event_id: r for r in outcome.results}
    assert len(by_event) == len(records)
    written_ids = [d["event_id"] for d in written]
    letter_ids = [d["event_id"] for d in letters]
    for record in records:
        result = by_event[record.event_id]
        if result.status == PREDICTED:
            assert written_ids.count(record.event_id) == 1
            assert record.event_id not in letter_ids
        else:
            assert result.status == DEAD_LETTERED
            (letter,) = [d for d in letters if d["event_id"] == record.event_id]
            assert letter["reason"] and len(letter["reason"]) < 700
            assert raw_data_of(letter, objects) == record.data
            assert record.event_id not in written_ids
    for event_id in good_ids:
        assert by_event[event_id].status == PREDICTED


# ------------------------------------------------------------------ generated hostile payloads

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)


def as_json(value) -> str:
    return json.dumps({"id": value[0], "text": value[1]})


hostile_texts = st.one_of(
    st.builds(as_json, st.tuples(json_values, json_values)),  # id and text of every JSON type
    st.integers(4301, 6000).map(lambda n: '{"id": "h", "text": "a", "n": ' + "9" * n + "}"),
    st.integers(1000, 10_000).map(
        lambda n: '{"id": "d", "text": "a", "x": ' + "[" * n + "]" * n + "}"
    ),
    st.integers(10_001, 60_000).map(lambda n: json.dumps({"id": "s", "text": "w " * (n // 2 + 1)})),
    st.sampled_from(
        [
            '{"id": "\\ud800", "text": "lone surrogate in the id"}',
            '{"id": "x", "text": "\\udfff alone"}',
            '{"id": "x", "text": "a", "v": NaN}',
            '{"id": "x", "text": "a", "v": -Infinity}',
            '{"id": 1e999, "text": "a"}',
            '{"id": "x", "text": "a"',
            "[]",
            "null",
            '"just a string"',
        ]
    ),
    st.text(max_size=50),  # anything at all
)
good_payloads = st.builds(
    lambda i, words: json.dumps({"id": f"g-{i}", "text": " ".join(words) or "hello"}),
    st.integers(0, 10**6),
    st.lists(st.sampled_from(["win", "money", "lunch", "meeting", "é", "日本"]), max_size=6),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    payloads=st.lists(st.tuples(st.booleans(), good_payloads, hostile_texts), max_size=12),
    as_sqs=st.booleans(),
)
# an id holding U+0085, written as it is: a line end to str.splitlines(), not to Lambda's logs
@example(payloads=[(False, '{"id": "g-0", "text": "hello"}', as_json(("\x85", "")))], as_sqs=False)
@example(payloads=[(False, "", as_json(("a\u2028b", "text")))], as_sqs=True)
def test_any_list_of_payloads_accounts_for_every_record_exactly_once(payloads, as_sqs):
    records, good_ids = [], []
    for i, (is_good, good, hostile) in enumerate(payloads):
        text = good if is_good else hostile
        if as_sqs:
            records.append(sqs_record(i, text))
        else:
            records.append(kinesis(i, text.encode("utf-8", "surrogatepass")))
        if is_good:
            good_ids.append(records[-1].event_id)
    outcome, written, letters, objects = run(records)
    check_accounting(records, outcome, written, letters, objects, good_ids)


@settings(max_examples=60, deadline=None)
@given(raw=st.binary(max_size=64))
def test_any_bytes_in_a_kinesis_record_are_predicted_or_dead_lettered(raw):
    records = [kinesis(1, b'{"id": "a", "text": "win"}'), kinesis(2, raw)]
    outcome, written, letters, objects = run(records)
    check_accounting(records, outcome, written, letters, objects, ["shardId-000000000000:1"])


# ------------------------------------------------------------------ the big ones, each between good records


def between_good(bad: bytes) -> list[InRecord]:
    good = [json.dumps({"id": f"g-{i}", "text": "free money"}).encode() for i in range(4)]
    return [kinesis(i, raw) for i, raw in enumerate(good[:2] + [bad] + good[2:])]


GOOD_IDS = [f"shardId-000000000000:{i}" for i in (0, 1, 3, 4)]


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (json.dumps({"id": "big", "text": "w " * (MIB // 2)}).encode(), "text too long"),
        (json.dumps({"id": "big", "text": "w " * (5 * MIB // 2)}).encode(), "text too long"),
        (b'{"id": "n", "text": "a", "n": ' + b"7" * 5000 + b"}", "not JSON: Exceeds the limit"),
        (b'{"id": "d", "text": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", "not JSON: nested"),
    ],
    ids=["1MB-text", "5MB-text", "5000-digit-int", "deep-nesting"],
)
def test_a_huge_or_hostile_record_between_good_ones_is_dead_lettered_alone(bad, reason):
    records = between_good(bad)
    outcome, written, letters, objects = run(records)
    check_accounting(records, outcome, written, letters, objects, GOOD_IDS)
    assert [r.status for r in outcome.results] == [PREDICTED, PREDICTED, DEAD_LETTERED] + [
        PREDICTED
    ] * 2
    (letter,) = letters
    assert letter["reason"].startswith(reason), letter["reason"]
    assert ("data_s3" in letter) == (len(records[2].data) > MIB - 1000)


def test_a_450kb_id_is_predicted_when_the_sink_takes_it():
    """stdout has no per-record limit (DynamoDB's 400 KB: tests/functional/test_sinks.py)."""
    records = between_good(json.dumps({"id": "i" * 450_000, "text": "win"}).encode())
    outcome, written, letters, objects = run(records)
    assert [r.status for r in outcome.results] == [PREDICTED] * 5 and letters == []


def test_a_lone_surrogate_in_an_id_makes_its_result_a_dead_letter():
    records = between_good(b'{"id": "\\ud800", "text": "win"}')
    outcome, written, letters, objects = run(records)
    check_accounting(records, outcome, written, letters, objects, GOOD_IDS)
    (letter,) = letters
    assert letter["reason"].startswith("result cannot be written to stdout://: UnicodeEncodeError")


def test_a_dead_letter_whose_data_holds_lone_surrogates_keeps_it_as_ascii_json():
    records = [sqs_record(0, '{"id": "a", "text": "win"}'), sqs_record(1, "\udc80 not json")]
    outcome, written, letters, objects = run(records)
    check_accounting(records, outcome, written, letters, objects, ["msg-0"])
    assert "data" not in letters[0] and letters[0]["data_json"].isascii()


def test_many_big_dead_letters_go_to_sqs_in_calls_within_its_limits():
    bad = json.dumps({"id": "big", "text": "w " * 200_000}).encode()  # 530 KB as base64
    records = [kinesis(i, bad) for i in range(7)]
    output, out, dead, sqs, s3 = sinks()
    outcome = process_batch(
        records, model=MODEL, rules=RowRules("text"), output=output, dead_letter=dead, clock=Clock()
    )
    assert outcome.metrics.dead_lettered == 7 and s3.objects == {}
    assert sqs.calls == 7  # two 530 KB messages would pass 1 MiB per call: one per call


def test_a_reason_naming_a_huge_field_is_cut_to_a_readable_length():
    key = "k" * 200_000
    records = [kinesis(0, json.dumps({"id": "r", key: "v" * 20}).encode())]
    output, out, dead, sqs, s3 = sinks()
    outcome = process_batch(
        records,
        model=MODEL,
        rules=RowRules("record", None, 10),
        output=output,
        dead_letter=dead,
        clock=Clock(),
    )
    (letter,) = sqs.bodies
    assert outcome.metrics.dead_lettered == 1
    assert letter["reason"].startswith("text too long: kkk")
    assert letter["reason"].endswith("characters, cut)") and len(letter["reason"]) < 600


class RefusingSqs(FakeSqs):
    """Refuses (SenderFault) any message whose body holds a character SQS does not allow."""

    def send_message_batch(self, QueueUrl, Entries):
        bad = [e for e in Entries if "\uffff" in e["MessageBody"]]
        good = [e for e in Entries if e not in bad]
        if good:
            super().send_message_batch(QueueUrl, good)
        failed = [
            {"Id": e["Id"], "SenderFault": True, "Code": "InvalidMessageContents", "Message": "x"}
            for e in bad
        ]
        return {"Successful": [{"Id": e["Id"]} for e in good], "Failed": failed}


def test_a_dead_letter_its_sink_refuses_is_sent_again_with_its_data_in_s3():
    sqs, s3 = RefusingSqs(), FakeS3()
    retry = Retry(attempts=2, sleep=lambda _: None)
    dead = DeadLetters(SqsSink(sqs, "dead", retry), OverflowStore(s3, "b", "p/", retry))
    letter = {"event_id": "m-1", "reason": "no id", "data": "\uffff{}", "model_version": "v"}
    assert dead.write([letter]).undelivered == set()
    (sent,) = sqs.bodies
    assert raw_data_of(sent, s3.objects) == "\uffff{}" and dead.overflowed == 1


@settings(max_examples=80, deadline=None)
@given(instances=st.lists(json_values, max_size=10))
def test_a_direct_invocation_answers_every_instance_whatever_it_holds(instances):
    from mlayer_function.direct import predict_instances

    result = predict_instances(
        instances, model=MODEL, rules=RowRules("text", None, 100), clock=Clock()
    )
    assert len(result.predictions) == len(instances)
    assert result.predicted + result.errors == len(instances)
    for answer in result.predictions:
        assert ("prediction" in answer) != ("error" in answer)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # NaN and the infinities too
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def _strict_reference(text: str) -> tuple[str, object]:
    """What json's own decode() makes of a text, NaN/Infinity refused: the reference."""
    from mlayer_function.decoding import BadRecord, _reject_constant

    try:
        return "value", json.JSONDecoder(parse_constant=_reject_constant).decode(text)
    except BadRecord as exc:
        return "bad", exc.reason
    except json.JSONDecodeError as exc:
        return "bad", f"not JSON: {exc.msg} at {exc.lineno}:{exc.colno}"
    except RecursionError:
        return "bad", "not JSON: nested too deeply"
    except ValueError as exc:
        return "bad", f"not JSON: {str(exc)[:200]}"


JSON_TEXTS = st.one_of(
    st.text(),  # mostly not JSON
    st.builds(
        lambda value, before, after: before + json.dumps(value) + after,
        JSON_VALUES,  # NaN/Infinity literals included: refused
        st.sampled_from(["", " ", "\n\t ", "x", "{"]),
        st.sampled_from(["", " ", " \r\n", "]", "1", ",{}", "x"]),
    ),
)


@settings(max_examples=500, deadline=None)
@given(JSON_TEXTS)
def test_the_fast_json_path_answers_as_decode_does(text):
    """parse_json calls the decoder's C scanner directly (no regexes for the common record);
    for any text, the value or the dead-letter reason is the one decode() would give."""
    from mlayer_function.decoding import BadRecord, parse_json

    try:
        got = ("value", parse_json(text))
    except BadRecord as exc:
        got = ("bad", exc.reason)
    assert got == _strict_reference(text)


@settings(max_examples=300, deadline=None)
@given(st.datetimes(timezones=st.just(timezone.utc)))
def test_the_result_stamp_is_iso_8601_to_the_millisecond(moment):
    from mlayer_function.batch import iso_millis

    expected = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert iso_millis(moment) == expected  # 4-digit years too, which strftime's %Y is not
