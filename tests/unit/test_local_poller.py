"""The local event-source mapping: GIVEN a shard and a function's behaviour, WHEN polled, THEN
Lambda's retry, bisect and give-up semantics hold (with moto's short and Kinesis' 56-digit
sequence numbers alike)."""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass

import pytest

from mlayer.local.poller import Mapping, Poller, first_failed_index, kinesis_event

NOW = 1_800_000_000.0
LONG = 49590338271490256608559692538361571095921575989136588898  # a real-looking 56-digit number


def make_records(n, start=1, age=0.0):
    return [
        {
            "SequenceNumber": str(start + i),
            "PartitionKey": f"pk{i}",
            "Data": json.dumps({"id": i}).encode(),
            "ApproximateArrivalTimestamp": dt.datetime.fromtimestamp(NOW - age, dt.timezone.utc),
        }
        for i in range(n)
    ]


class FakeStream:
    """One or more shards; get_records serves batch_size records per call, then [] at the end."""

    def __init__(self, shards):
        self.shards = shards
        self.iterators = []

    def list_shards(self, stream):
        return [{"ShardId": s} for s in self.shards]

    def get_shard_iterator(self, stream, shard_id, iterator_type, sequence_number=None):
        self.iterators.append((shard_id, iterator_type, sequence_number))
        records = self.shards[shard_id]
        if iterator_type == "AFTER_SEQUENCE_NUMBER":
            pos = next(
                (i + 1 for i, r in enumerate(records) if r["SequenceNumber"] == sequence_number),
                len(records),
            )
        elif iterator_type == "LATEST":
            pos = len(records)
        else:
            pos = 0
        return f"{shard_id}|{pos}"

    def get_records(self, iterator, limit):
        shard_id, pos = iterator.split("|")
        records = self.shards[shard_id][int(pos) : int(pos) + limit]
        return {"Records": records, "NextShardIterator": f"{shard_id}|{int(pos) + len(records)}"}


@dataclass
class Outcome:
    payload: object = None
    error: dict | None = None


class FakeFunction:
    """Fails on poison ids: 'error' raises (function error), 'item' reports the record."""

    def __init__(self, poison=(), mode="error", transient=0):
        self.poison, self.mode, self.transient = set(poison), mode, transient
        self.calls = []

    def __call__(self, event):
        ids = [json.loads(base64.b64decode(r["kinesis"]["data"]))["id"] for r in event["Records"]]
        self.calls.append(ids)
        if self.transient:
            self.transient -= 1
            return Outcome(error={"errorType": "Flaky", "errorMessage": "try again"})
        bad = [r for r, i in zip(event["Records"], ids, strict=True) if i in self.poison]
        if not bad:
            return Outcome({"batchItemFailures": []})
        if self.mode == "error":
            return Outcome(error={"errorType": "ValueError", "errorMessage": "poison"})
        return Outcome(
            {"batchItemFailures": [{"itemIdentifier": r["kinesis"]["sequenceNumber"]} for r in bad]}
        )


def mapping(**kw):
    base = dict(
        stream="s",
        stream_arn="arn:aws:kinesis:us-east-1:123456789012:stream/s",
        function_arn="arn:aws:lambda:us-east-1:123456789012:function:f",
        role_arn="arn:aws:iam::123456789012:role/r",
        region="us-east-1",
        batch_size=10,
        max_retries=2,
        max_record_age=3600,
        bisect_on_error=False,
        report_item_failures=True,
        on_failure="sqs://dlq",
    )
    base.update(kw)
    return Mapping(**base)


def sender(sent):
    """An on-failure sender that keeps what it is given (the record; the payload is checked apart)."""

    def send(record, payload):
        sent.append(record)
        return "sqs://dlq"

    return send


def run(records, fn, shards=None, **kw):
    sent = []
    stream = FakeStream(shards or {"shardId-000000000000": records})
    poller = Poller(stream, fn, mapping(**kw), send_failure=sender(sent), clock=lambda: NOW)
    return poller.run(), sent, poller, stream


def test_the_event_has_lambdas_kinesis_shape():
    rec = make_records(1)[0]
    event = kinesis_event([rec], "shardId-000000000000", mapping())
    assert event == {
        "Records": [
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": "pk0",
                    "sequenceNumber": "1",
                    "data": base64.b64encode(b'{"id": 0}').decode(),
                    "approximateArrivalTimestamp": NOW,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": "shardId-000000000000:1",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/r",
                "awsRegion": "us-east-1",
                "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/s",
            }
        ]
    }


def test_all_good_batches_are_delivered_in_order_and_checkpointed():
    result, sent, poller, _ = run(make_records(25), FakeFunction())
    assert [b.records for b in result.batches] == [10, 10, 5]
    assert result.succeeded == 25 and result.gave_up == 0 and sent == []
    assert poller.checkpoints == {"shardId-000000000000": "25"}


def test_a_second_poll_resumes_after_the_checkpoint():
    fn = FakeFunction()
    records = make_records(5)
    stream = FakeStream({"shardId-000000000000": records})
    checkpoints = {}
    Poller(stream, fn, mapping(), checkpoints=checkpoints, clock=lambda: NOW).run()
    records.extend(make_records(3, start=6))
    again = Poller(stream, fn, mapping(), checkpoints=checkpoints, clock=lambda: NOW).run()
    assert again.records == 3 and fn.calls[-1] == [0, 1, 2]
    assert stream.iterators[-1] == ("shardId-000000000000", "AFTER_SEQUENCE_NUMBER", "5")


@pytest.mark.parametrize("start", [1, LONG])
def test_item_failures_retry_from_the_lowest_failed_sequence_number(start):
    fn = FakeFunction(poison={7, 3}, mode="item")
    fn_calls = fn.calls
    result, sent, _, _ = run(make_records(10, start=start), fn, max_retries=1)
    # first call: all 10; retry from id 3 (the lowest failed), once; then give up on ids 3..9
    assert fn_calls == [list(range(10)), list(range(3, 10))]
    assert result.succeeded == 3 and result.gave_up == 7
    info = sent[0]["KinesisBatchInfo"]
    assert info["startSequenceNumber"] == str(start + 3) and info["endSequenceNumber"] == str(
        start + 9
    )
    assert info["batchSize"] == 7


def test_sequence_numbers_compare_as_integers_not_strings():
    records = make_records(12, start=1)  # "9" > "10" as strings
    payload = {"batchItemFailures": [{"itemIdentifier": "10"}, {"itemIdentifier": "9"}]}
    assert first_failed_index(payload, records) == 8


@pytest.mark.parametrize(
    "payload",
    [
        {"batchItemFailures": [{"itemIdentifier": ""}]},
        {"batchItemFailures": [{"itemIdentifier": None}]},
        {"batchItemFailures": [{"id": "3"}]},
        {"batchItemFailures": [{"itemIdentifier": "999"}]},
    ],
)
def test_an_unusable_item_identifier_fails_the_whole_batch(payload):
    assert first_failed_index(payload, make_records(5)) == 0


@pytest.mark.parametrize("payload", [None, {}, {"batchItemFailures": []}, "ok"])
def test_no_item_failures_is_success(payload):
    assert first_failed_index(payload, make_records(5)) is None


def test_a_transient_error_is_retried_and_then_succeeds():
    fn = FakeFunction(transient=2)
    result, sent, _, _ = run(make_records(4), fn, max_retries=2)
    assert result.succeeded == 4 and sent == [] and len(fn.calls) == 3
    assert result.batches[0].retries == 2


def test_bisect_isolates_the_poison_record_and_gives_up_only_on_it():
    fn = FakeFunction(poison={5}, mode="error")
    result, sent, _, _ = run(make_records(8), fn, bisect_on_error=True, max_retries=1)
    assert result.succeeded == 7 and result.gave_up == 1
    assert len(sent) == 1
    record = sent[0]
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert (
        record["KinesisBatchInfo"]["startSequenceNumber"]
        == "6"
        == record["KinesisBatchInfo"]["endSequenceNumber"]
    )
    assert "data" not in json.dumps(record["KinesisBatchInfo"]).lower().replace("approximate", "")
    assert result.batches[0].bisections == 3  # 8 -> 4 -> 2 -> 1


def test_without_bisect_a_function_error_gives_up_on_the_whole_batch_after_the_retries():
    fn = FakeFunction(poison={2}, mode="error")
    result, sent, _, _ = run(make_records(4), fn, max_retries=2)
    assert len(fn.calls) == 3 and result.gave_up == 4 and result.succeeded == 0
    assert sent[0]["KinesisBatchInfo"]["batchSize"] == 4
    assert sent[0]["requestContext"]["approximateInvokeCount"] == 3


def test_records_older_than_the_maximum_age_are_given_up_without_invoking():
    old = make_records(2, age=7200)
    fresh = make_records(2, start=3)
    fn = FakeFunction()
    result, sent, _, _ = run(old + fresh, fn, max_record_age=3600)
    assert fn.calls == [[0, 1]]  # only the fresh ones (their ids restart at 0)
    assert sent[0]["requestContext"]["condition"] == "RecordAgeExceeded"
    assert sent[0]["KinesisBatchInfo"]["endSequenceNumber"] == "2"


def test_without_a_destination_given_up_records_are_only_counted():
    stream = FakeStream({"shardId-000000000000": make_records(2)})
    sent = []
    p = Poller(
        stream,
        FakeFunction(poison={0}),
        mapping(on_failure="", max_retries=0),
        send_failure=sender(sent),
        clock=lambda: NOW,
    )
    result = p.run()
    assert result.gave_up == 2 and sent == [] and len(result.failure_records) == 1


def test_each_shard_is_read_and_max_batches_stops_early():
    shards = {
        "shardId-000000000001": make_records(15, start=100),
        "shardId-000000000000": make_records(15),
    }
    lines = []
    stream = FakeStream(shards)
    p = Poller(
        stream,
        FakeFunction(),
        mapping(),
        on_batch=lambda b: lines.append(b.line()),
        clock=lambda: NOW,
    )
    assert p.run(max_batches=3).records == 30 - 5
    assert [line.split()[2] for line in lines] == [
        "shardId-000000000000",
        "shardId-000000000001",
        "shardId-000000000000",
    ]
    assert p.run().records == 5  # resumes: only what is left


def test_until_empty_reads_past_empty_pages_that_are_still_behind_the_tip():
    """Real Kinesis: an empty page with MillisBehindLatest > 0 is a gap, not the end."""

    class GappyStream(FakeStream):
        def __init__(self, shards, gaps):
            super().__init__(shards)
            self.gaps = gaps

        def get_records(self, iterator, limit):
            if self.gaps:
                self.gaps -= 1
                return {"Records": [], "NextShardIterator": iterator, "MillisBehindLatest": 5000}
            return {**super().get_records(iterator, limit), "MillisBehindLatest": 0}

    fn = FakeFunction()
    stream = GappyStream({"shardId-000000000000": make_records(3)}, gaps=2)
    result = Poller(stream, fn, mapping(), clock=lambda: NOW).run(until_empty=True)
    assert result.records == 3 and fn.calls == [[0, 1, 2]]
