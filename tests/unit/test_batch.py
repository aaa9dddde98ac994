"""mlayer_function/batch.py with in-memory fakes: decoding reasons, one vectorized predict, bisect, delivery.

GIVEN a batch and fake sinks, WHEN it is processed, THEN every record ends in exactly one
state and batchItemFailures points at the first record that must be delivered again.
"""

from __future__ import annotations

import base64
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "function"))

from mlayer_function import direct  # noqa: E402
from mlayer_function.batch import (  # noqa: E402
    DEAD_LETTERED,
    FAILED,
    PREDICTED,
    InRecord,
    process_batch,
)
from mlayer_function.decoding import RowRules  # noqa: E402
from mlayer_function.delivery import BaseSink, Delivery, Prepared, TooBig  # noqa: E402

LONG_SEQ = 49590338271490256608559692538361571095921575989136588898  # a real, 56-digit one


class FakeClock:
    def __init__(self) -> None:
        self.ticks = 0.0

    def now(self) -> datetime:
        return datetime(2026, 11, 24, 7, 0, 0, 123456, tzinfo=timezone.utc)

    def monotonic(self) -> float:
        self.ticks += 0.001
        return self.ticks


class FakeModel:
    """Labels by text length; a row equal to "poison" makes the whole call raise."""

    version = "v3"

    def __init__(self, proba: bool = True, error: BaseException | None = None) -> None:
        self.calls: list[int] = []
        self.proba = proba
        self.error = error

    def predict(self, rows):
        self.calls.append(len(rows))
        if self.error is not None:
            raise self.error
        if "poison" in rows:
            raise ValueError("cannot take poison")
        labels = ["long" if len(r) > 3 else "short" for r in rows]
        probas = [{"long": 0.75, "short": 0.25} for _ in rows] if self.proba else None
        return labels, probas


class FakeSink(BaseSink):
    """Keeps what it was given; ``drop``: not taken this time; ``refuse``: never taken;
    ``too_big``: refused by ``prepare``, as a service's per-record limit would."""

    name = "fake://sink"

    def __init__(self, drop=(), raises=None, refuse=(), too_big=()) -> None:
        self.docs: list[dict] = []
        self.drop, self.refuse, self.too_big = set(drop), set(refuse), set(too_big)
        self.raises = raises
        self.calls = 0

    def prepare(self, doc):
        if doc["event_id"] in self.too_big:
            raise TooBig("over the fake limit")
        return Prepared(doc["event_id"], doc)

    def send(self, items):
        self.calls += 1
        if self.raises is not None:
            raise self.raises
        out = Delivery(
            retry={i.event_id for i in items if i.event_id in self.drop},
            refused={i.event_id: "no, never" for i in items if i.event_id in self.refuse},
        )
        self.docs.extend(i.wire for i in items if i.event_id not in out.undelivered)
        return out


def b64(obj) -> str:
    raw = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return base64.b64encode(raw).decode()


def rec(seq: int, payload, shard: str = "shardId-000000000000") -> InRecord:
    return InRecord(f"{shard}:{seq}", str(seq), b64(payload), "base64", seq)


def text(seq: int, value: str = "hello", **extra) -> InRecord:
    return rec(seq, {"id": f"a-{seq}", "text": value, **extra})


TEXT = RowRules("text", None, 20)


def run(records, *, model=None, output=None, dead_letter=None, ordered=True, rules=TEXT):
    model = model or FakeModel()
    output = output if output is not None else FakeSink()
    dead_letter = dead_letter if dead_letter is not None else FakeSink()
    outcome = process_batch(
        records,
        model=model,
        rules=rules,
        output=output,
        dead_letter=dead_letter,
        clock=FakeClock(),
        ordered=ordered,
    )
    return outcome, model, output, dead_letter


def statuses(outcome) -> list[str]:
    return [r.status for r in outcome.results]


def test_all_good_records_are_predicted_in_one_call_and_written_once():
    outcome, model, output, dead = run([text(1), text(2, "hi"), text(3)])

    assert model.calls == [3]
    assert statuses(outcome) == [PREDICTED] * 3
    assert outcome.failed == [] and outcome.checkpoint is None
    assert dead.calls == 0
    assert output.docs[1] == {
        "id": "a-2",
        "prediction": "short",
        "probabilities": {"long": 0.75, "short": 0.25},
        "model_version": "v3",
        "event_id": "shardId-000000000000:2",
        "predicted_at": "2026-11-24T07:00:00.123Z",
    }


def test_without_predict_proba_results_carry_no_probabilities():
    _, _, output, _ = run([text(1)], model=FakeModel(proba=False))
    assert "probabilities" not in output.docs[0]


def test_empty_batch_succeeds_without_predicting_or_writing():
    outcome, model, output, dead = run([])
    assert outcome.results == () and outcome.checkpoint is None
    assert model.calls == [] and output.calls == 0 and dead.calls == 0
    assert outcome.metrics.records == 0


BAD_PAYLOADS = [
    ("%%%not base64", "bad base64"),
    (base64.b64encode(b"\xff\xfe{}").decode(), "not UTF-8"),
    (b64(b"{nope"), "not JSON"),
    (b64(b'{"id": "x", "text": NaN}'), "non-finite value"),
    (b64([1, 2]), "not a JSON object: got list"),
    (b64({"text": "hello"}), "no id"),
    (b64({"id": 1.5, "text": "hello"}), "wrong type: id"),
    (b64({"id": True, "text": "hello"}), "wrong type: id"),
    (b64({"id": "x"}), "no text"),
    (b64({"id": "x", "text": 7}), "wrong type: text must be a string, got int"),
    (b64({"id": "x", "text": "y" * 21}), "text too long: text has 21 characters, limit 20"),
]


@pytest.mark.parametrize(("data", "reason"), BAD_PAYLOADS)
def test_a_bad_record_is_dead_lettered_with_its_reason_and_raw_data(data, reason):
    bad = InRecord("shardId-000000000000:2", "2", data, "base64", 2)
    outcome, _, output, dead = run([text(1), bad, text(3)])

    assert statuses(outcome) == [PREDICTED, DEAD_LETTERED, PREDICTED]
    (letter,) = dead.docs
    assert letter["reason"].startswith(reason), letter["reason"]
    assert letter["data"] == data
    assert letter["event_id"] == "shardId-000000000000:2"
    assert letter["model_version"] == "v3" and letter["failed_at"].endswith("Z")
    assert [d["id"] for d in output.docs] == ["a-1", "a-3"]


FEATURES = RowRules("features", 3, 20)


@pytest.mark.parametrize(
    ("features", "reason"),
    [
        ([1, 2], "wrong number of features: got 2, expected 3"),
        ("1,2,3", "wrong type: features must be a list, got str"),
        ([1, "2", 3], "wrong type: features[1] must be a number, got str"),
        ([1, None, 3], "wrong type: features[1] must be a number, got null"),
        ([1, True, 3], "wrong type: features[1] must be a number, got bool"),
        ("[1, 1e999, 3]", "non-finite value: features[1] is inf"),
        (f"[1, 2, {10**400}]", "non-finite value: features[2] is too large"),
    ],
)
def test_feature_rows_are_validated_before_the_model_sees_them(features, reason):
    model = FakeModel()
    # Literal JSON text for numbers json.dumps cannot write (1e999 overflows to inf on parse).
    raw = features if isinstance(features, str) and features.startswith("[") else None
    payload = f'{{"id": 1, "features": {raw}}}'.encode() if raw else {"id": 1, "features": features}
    outcome, _, _, dead = run([rec(1, payload)], model=model, rules=FEATURES)
    assert statuses(outcome) == [DEAD_LETTERED]
    assert dead.docs[0]["reason"].startswith(reason), dead.docs[0]["reason"]
    assert model.calls == []


def test_all_bad_records_never_reach_the_model_or_the_output():
    outcome, model, output, dead = run([rec(1, b"x"), rec(2, {"text": "no id"})])
    assert statuses(outcome) == [DEAD_LETTERED, DEAD_LETTERED]
    assert model.calls == [] and output.calls == 0
    assert outcome.failed == []


def test_a_predict_that_raises_is_bisected_down_to_the_offending_record():
    records = [text(i) for i in range(1, 9)]
    records[5] = text(6, "poison")
    outcome, model, output, dead = run(records)

    assert statuses(outcome) == [PREDICTED] * 5 + [DEAD_LETTERED] + [PREDICTED] * 2
    assert dead.docs[0]["reason"] == "predict failed: ValueError: cannot take poison"
    assert len(output.docs) == 7
    assert len(model.calls) <= 1 + 2 * 3  # one try, then two halves per level of log2(8)


def test_a_systemic_error_fails_the_invocation_instead_of_blaming_records():
    with pytest.raises(MemoryError):
        run([text(1), text(2)], model=FakeModel(error=MemoryError()))


def test_an_undelivered_result_sets_the_checkpoint_and_everything_after_it_is_retried():
    output = FakeSink(drop={"shardId-000000000000:3"})
    outcome, _, _, _ = run([text(i) for i in range(1, 6)], output=output)

    assert statuses(outcome) == [PREDICTED, PREDICTED, FAILED, FAILED, FAILED]
    assert outcome.checkpoint.item_id == "3"
    assert outcome.metrics.failed == 3


def test_a_dead_letter_that_cannot_be_written_is_reported_from_its_record_on():
    dead = FakeSink(raises=RuntimeError("queue gone"))
    records = [text(1), rec(2, b"garbage"), text(3)]
    outcome, _, output, _ = run(records, dead_letter=dead)

    assert statuses(outcome) == [PREDICTED, FAILED, FAILED]
    assert outcome.checkpoint.item_id == "2"
    # Results go first: a-3 is written and written again by the retry (keyed by event_id).
    assert [d["id"] for d in output.docs] == ["a-1", "a-3"]
    assert outcome.sink_errors == ("dead-letter sink: RuntimeError: queue gone",)


def test_no_dead_letter_is_written_for_a_record_lambda_delivers_again():
    """A throttled output: letters past the first unwritten result wait for the retry."""
    output = FakeSink(drop={"shardId-000000000000:3"})
    records = [rec(1, b"junk"), text(2), text(3), rec(4, b"junk"), text(5)]
    outcome, _, _, dead = run(records, output=output)

    assert statuses(outcome) == [DEAD_LETTERED, PREDICTED, FAILED, FAILED, FAILED]
    assert [d["event_id"] for d in dead.docs] == ["shardId-000000000000:1"]
    assert outcome.results[3].reason == "after the checkpoint: delivered again"
    # The retry, from the checkpoint on, writes record 4's letter: once in all.
    retried, _, _, dead_again = run(records[2:])
    assert statuses(retried) == [PREDICTED, DEAD_LETTERED, PREDICTED]
    assert [d["event_id"] for d in dead.docs + dead_again.docs].count("shardId-000000000000:4") == 1


def test_unordered_sources_report_only_what_failed():
    output = FakeSink(drop={"m-2"})
    records = [
        InRecord(f"m-{i}", f"m-{i}", json.dumps({"id": i, "text": "t"}), "text", i)
        for i in range(4)
    ]
    outcome, _, _, _ = run(records, output=output, ordered=False)

    assert statuses(outcome) == [PREDICTED, PREDICTED, FAILED, PREDICTED]
    assert [r.item_id for r in outcome.failed] == ["m-2"]


def test_an_output_sink_that_raises_fails_every_result_but_keeps_dead_letters():
    output = FakeSink(raises=ConnectionError("down"))
    outcome, _, _, dead = run([rec(1, b"junk"), text(2)], output=output)
    assert statuses(outcome) == [DEAD_LETTERED, FAILED]
    assert outcome.checkpoint.item_id == "2"
    assert len(dead.docs) == 1


@pytest.mark.parametrize("base", [0, LONG_SEQ])
def test_sequence_numbers_are_ordered_as_integers_not_text(base):
    # "10" < "9" as text; Lambda must get 9 back, the first undelivered record.
    records = [text(base + 10), text(base + 9), text(base + 11)]
    output = FakeSink(
        drop={f"shardId-000000000000:{base + 9}", f"shardId-000000000000:{base + 10}"}
    )
    outcome, _, _, _ = run(records, output=output)
    assert outcome.checkpoint.item_id == str(base + 9)


def test_metrics_count_records_and_time_each_phase():
    outcome, _, _, _ = run([text(1), rec(2, b"junk")])
    m = outcome.metrics
    assert (m.records, m.predicted, m.dead_lettered, m.failed) == (2, 1, 1, 0)
    assert m.decode_ms > 0 and m.predict_ms > 0 and m.deliver_ms > 0


def test_direct_instances_answer_in_order_with_errors_in_place():
    result = direct.predict_instances(
        ["hello", {"id": "b", "text": "hi"}, {"id": "c"}, {"text": "poison"}],
        model=FakeModel(),
        rules=TEXT,
        clock=FakeClock(),
    )
    assert result.predictions == [
        {"id": 0, "prediction": "long", "probabilities": {"long": 0.75, "short": 0.25}},
        {"id": "b", "prediction": "short", "probabilities": {"long": 0.75, "short": 0.25}},
        {"id": "c", "error": "no text"},
        {"id": 3, "error": "predict failed: ValueError: cannot take poison"},
    ]
    assert (result.predicted, result.errors) == (2, 2)


def test_a_result_too_big_for_the_output_is_dead_lettered_with_the_reason():
    output = FakeSink(too_big={"shardId-000000000000:2"})
    outcome, _, _, dead = run([text(1), text(2), text(3)], output=output)

    assert statuses(outcome) == [PREDICTED, DEAD_LETTERED, PREDICTED]
    (letter,) = dead.docs
    assert letter["reason"] == "result does not fit fake://sink: over the fake limit"
    assert letter["data"] == text(2).data
    assert [d["id"] for d in output.docs] == ["a-1", "a-3"]


def test_a_result_the_output_refuses_for_good_is_dead_lettered_not_retried():
    output = FakeSink(refuse={"shardId-000000000000:2"})
    outcome, _, _, dead = run([text(1), text(2), text(3)], output=output)

    assert statuses(outcome) == [PREDICTED, DEAD_LETTERED, PREDICTED]
    assert dead.docs[0]["reason"] == "refused by fake://sink: no, never"
    assert outcome.failed == []


def test_a_refused_result_whose_dead_letter_fails_is_delivered_again():
    output = FakeSink(refuse={"shardId-000000000000:2"})
    dead = FakeSink(drop={"shardId-000000000000:2"})
    outcome, _, _, _ = run([text(1), text(2), text(3)], output=output, dead_letter=dead)
    assert statuses(outcome) == [PREDICTED, FAILED, FAILED]
    assert outcome.checkpoint.item_id == "2"


class Exploding:
    """A table schema whose check raises what no decoder names: the record is still to blame."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def row(self, obj):
        raise self.exc


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (KeyError("colour"), "cannot decode: KeyError: 'colour'"),
        (RecursionError("deep"), "cannot decode: RecursionError: deep"),
        (ValueError("x" * 5000), "cannot decode: ValueError: " + "x" * 100),
    ],
)
def test_any_exception_while_decoding_one_record_dead_letters_only_it(exc, reason):
    rules = RowRules("table", None, 20, table=Exploding(exc))
    outcome, model, _, dead = run([text(1)], rules=rules)
    assert statuses(outcome) == [DEAD_LETTERED] and model.calls == []
    assert dead.docs[0]["reason"].startswith(reason)
    assert len(dead.docs[0]["reason"]) < 600  # cut to a readable length


def test_a_systemic_error_while_decoding_fails_the_invocation():
    rules = RowRules("table", None, 20, table=Exploding(MemoryError()))
    with pytest.raises(MemoryError):
        run([text(1)], rules=rules)


def test_the_accounting_line_balances():
    outcome, _, _, _ = run([text(1), rec(2, b"junk")])
    assert outcome.accounting == "records 2 = predicted 1 + dead_lettered 1 + failed 0"


# Each record: good text, undecodable, poison for the model; and what its sinks do with it.
record_kinds = st.sampled_from(["good", "bad", "poison"])
sink_fates = st.sampled_from(["ok", "drop", "refuse", "too_big"])


@settings(max_examples=200, deadline=None)
@given(
    kinds=st.lists(st.tuples(record_kinds, sink_fates, sink_fates), max_size=30),
    dead_letter_down=st.booleans(),
    ordered=st.booleans(),
)
def test_every_record_is_accounted_for_and_nothing_before_the_checkpoint_is_lost(
    kinds, dead_letter_down, ordered
):
    records = []
    fates: dict[str, dict[str, set]] = {
        "out": {"drop": set(), "refuse": set(), "too_big": set()},
        "dead": {"drop": set(), "refuse": set(), "too_big": set()},
    }
    for i, (kind, out_fate, dead_fate) in enumerate(kinds):
        seq = LONG_SEQ + i * 7
        payload = {"id": i, "text": "poison" if kind == "poison" else "fine"}
        records.append(rec(seq, payload if kind != "bad" else b"\x00"))
        for side, fate in (("out", out_fate), ("dead", dead_fate)):
            if fate != "ok":
                fates[side][fate].add(records[-1].event_id)
    output = FakeSink(**fates["out"])
    dead = FakeSink(**fates["dead"], raises=RuntimeError("down") if dead_letter_down else None)
    outcome, _, _, _ = run(records, output=output, dead_letter=dead, ordered=ordered)

    m = outcome.metrics
    assert m.predicted + m.dead_lettered + m.failed == m.records == len(records)
    assert sorted(r.record.event_id for r in outcome.results) == sorted(r.event_id for r in records)
    in_output = [d["event_id"] for d in output.docs]
    in_dead = [d["event_id"] for d in dead.docs]
    for result in outcome.results:
        event_id = result.record.event_id
        if result.status == PREDICTED:
            assert in_output.count(event_id) == 1 and event_id not in in_dead
        elif result.status == DEAD_LETTERED:
            assert in_dead.count(event_id) == 1 and event_id not in in_output
            assert result.reason
    if ordered and outcome.checkpoint is not None:
        cut = outcome.checkpoint.order
        assert all(r.status == FAILED for r in outcome.results if r.record.order >= cut)
    # A record Lambda delivers again has no dead letter yet (the retry writes it once), unless
    # a letter before it failed in the same call: that one failure costs duplicates, a
    # throttled output sink no longer does.
    again = {r.record.event_id for r in outcome.results if r.status == FAILED}
    if not any(r.reason == "dead-letter write failed" for r in outcome.results):
        assert not again & set(in_dead)
