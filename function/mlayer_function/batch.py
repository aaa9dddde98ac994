"""The pure core: records -> rows or dead letters -> one vectorized predict -> delivery -> outcome.

No I/O and no globals: the model, the sinks and the clock come in as arguments, so every path
(bad records, a predict that raises, a sink that refuses or drops items) is tested with fakes.

One rule: whatever goes wrong with ONE record, while decoding, validating, predicting or
shaping its result for the output sink (a result too big for it included), makes that record a
dead letter with a reason; it never fails the batch. Only what is about the container
(MemoryError, SystemError) or a sink that is down fails records, and those Lambda delivers again.

Accounting: every record ends in exactly one state. ``predicted`` (its result is in the output
sink), ``dead_lettered`` (its reason and raw data are in the dead-letter sink) or ``failed``
(Lambda must deliver it again). For an ordered source (a Kinesis shard, a FIFO queue) Lambda
retries from the first failed record onwards, so everything from that checkpoint on is
``failed`` too. Results are written first, then dead letters, and an ordered source's dead
letters from the first unwritten result on are not written at all: Lambda delivers those
records again, so a letter written now would be written twice (a throttled output sink is the
common failure). Results past a dead letter that failed are written, and written again by the
retry: DynamoDB rewrites the same row (keyed by ``event_id``); S3, SQS and Kinesis readers
dedupe on the ``event_id`` every result carries (docs/FORMATS.md, "Replays").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from .decoding import BadRecord, RowRules, decode_payload, to_row
from .delivery import SYSTEMIC_ERRORS, Delivery, Prepared, TooBig, cut, describe, new_tuple
from .predict_isolation import predict_isolating

if TYPE_CHECKING:  # protocols for the annotations only: building them costs a cold start
    from .batch_ports import Clock, DeadLetterSink, OutputSink, Predictor

PREDICTED = "predicted"
DEAD_LETTERED = "dead_lettered"
FAILED = "failed"
AFTER_CHECKPOINT = "after the checkpoint: delivered again"


class InRecord(NamedTuple):
    """One record as an adapter hands it over (a tuple: built per record, so kept cheap).

    ``event_id`` is stable across redeliveries (the idempotency key of every write);
    ``item_id`` is what Lambda wants back in batchItemFailures; ``order`` ranks records of an
    ordered source (a Kinesis sequence number as an int, never compared as text).
    """

    event_id: str
    item_id: str
    data: object
    encoding: str = "base64"
    order: int = 0


class RecordResult(NamedTuple):
    record: InRecord
    status: str
    reason: str = ""


class BatchMetrics(NamedTuple):
    """A batch's counts and stage times (the EMF line's values, in this order)."""

    records: int
    predicted: int
    dead_lettered: int
    failed: int
    decode_ms: float
    predict_ms: float
    deliver_ms: float


class BatchOutcome(NamedTuple):
    results: tuple[RecordResult, ...]
    metrics: BatchMetrics
    sink_errors: tuple[str, ...] = ()

    @property
    def failed(self) -> list[InRecord]:
        """Records Lambda must deliver again, first (lowest order) first."""
        failed = [r.record for r in self.results if r.status == FAILED]
        return sorted(failed, key=lambda rec: rec.order)

    @property
    def checkpoint(self) -> InRecord | None:
        failed = self.failed
        return failed[0] if failed else None

    @property
    def accounting(self) -> str:
        """The balance a reader checks in the EMF line: records = the three outcomes."""
        m = self.metrics
        return (
            f"records {m.records} = predicted {m.predicted} + dead_lettered {m.dead_lettered}"
            f" + failed {m.failed}"
        )


def iso_millis(moment: datetime) -> str:
    """``2026-11-30T09:41:05.693Z`` (a UTC moment), by hand: strftime is slower and leaves
    years before 1000 unpadded."""
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:"
        f"{moment.minute:02d}:{moment.second:02d}.{moment.microsecond // 1000:03d}Z"
    )


def _decode_all(
    records: Sequence[InRecord], rules: RowRules
) -> tuple[list[tuple[int, object, object]], dict[int, str]]:
    """([(index, id, row)], {index: reason}): any exception is this record's, not the batch's."""
    good: list[tuple[int, object, object]] = []
    bad: dict[int, str] = {}
    for index, record in enumerate(records):
        try:
            data = record.data
            rid, row = to_row(
                data if record.encoding == "json" else decode_payload(data, record.encoding), rules
            )
        except BadRecord as exc:
            bad[index] = exc.reason
        except SYSTEMIC_ERRORS:
            raise
        except Exception as exc:
            bad[index] = f"cannot decode: {describe(exc)}"
        else:
            good.append((index, rid, row))
    return good, bad


def _deliver(sink: Any, items: list[Any], errors: list[str], what: str) -> Delivery:
    """What a sink did not take; a sink that raises took none (it is down: Lambda retries)."""
    if not items:
        return Delivery()
    try:
        # the output sink sends prepared items, the dead-letter sink writes documents
        delivery: Delivery = sink.send(items) if what == "output sink" else sink.write(items)
        return delivery
    except SYSTEMIC_ERRORS:
        raise
    except Exception as exc:
        errors.append(f"{what}: {describe(exc)}")
        ids = (
            (i.event_id for i in items) if what == "output sink" else (d["event_id"] for d in items)
        )
        return Delivery(retry=set(ids))


def process_batch(
    records: Sequence[InRecord],
    *,
    model: Predictor,
    rules: RowRules,
    output: OutputSink,
    dead_letter: DeadLetterSink,
    clock: Clock,
    ordered: bool = True,
    observe: Callable[[list[Any], dict[int, Any], float], object] | None = None,
) -> BatchOutcome:
    """Decode, predict and deliver one batch; say what happened to every record. ``observe``
    (a shadow model, shadow.py) sees the decoded rows and live predictions once all is
    delivered and measured: it can neither change nor delay a live result."""
    t0 = clock.monotonic()
    good, reasons = _decode_all(records, rules)
    t1 = clock.monotonic()
    predictions, predict_errors = predict_isolating(model.predict, [row for _, _, row in good])
    t2 = clock.monotonic()
    ledger = _Ledger(records, reasons, model.version, iso_millis(clock.now()))
    prepared = _shape_results(ledger, good, predictions, predict_errors, output)
    written, unwritten = _deliver_results(ledger, prepared, output)
    held, unsafe = _write_dead_letters(ledger, unwritten, dead_letter, ordered)
    t3 = clock.monotonic()
    results = _answer(ledger, written, held, unsafe, ordered)
    metrics = _metrics(results, t0, t1, t2, t3)
    if observe is not None:
        observe(good, predictions, metrics.predict_ms)
    return BatchOutcome(tuple(results), metrics, tuple(ledger.sink_errors))


class _Ledger:
    """One batch between its stages: each record's dead-letter reason (by index) and what the
    sinks said went wrong; the version and time every result and letter carries."""

    __slots__ = ("records", "reasons", "version", "stamp", "sink_errors")

    def __init__(
        self, records: Sequence[InRecord], reasons: dict[int, str], version: str, stamp: str
    ) -> None:
        self.records, self.reasons, self.version, self.stamp = records, reasons, version, stamp
        self.sink_errors: list[str] = []


def _shape_results(
    ledger: _Ledger,
    good: list[tuple[int, object, object]],
    predictions: dict[int, tuple[object, dict[str, Any] | None]],
    predict_errors: dict[int, str],
    output: OutputSink,
) -> dict[int, Prepared]:
    """Each predicted record's result in the output sink's wire form, by record index; a
    result the sink cannot take is its record's dead letter."""
    records, reasons, version, stamp = ledger.records, ledger.reasons, ledger.version, ledger.stamp
    prepared: dict[int, Prepared] = {}
    prepare = output.prepare
    for pos, (index, rid, _) in enumerate(good):
        if pos in predict_errors:
            reasons[index] = predict_errors[pos]
            continue
        label, probas = predictions[pos]
        if probas is None:
            doc = {"id": rid, "prediction": label, "model_version": version}
        else:
            doc = {
                "id": rid,
                "prediction": label,
                "probabilities": probas,
                "model_version": version,
            }
        doc["event_id"] = records[index].event_id
        doc["predicted_at"] = stamp
        try:
            prepared[index] = prepare(doc)
        except SYSTEMIC_ERRORS:
            raise
        except TooBig as exc:
            reasons[index] = f"result does not fit {output.name}: {exc.reason}"
        except Exception as exc:
            reasons[index] = f"result cannot be written to {output.name}: {describe(exc)}"
    return prepared


def _deliver_results(
    ledger: _Ledger, prepared: dict[int, Prepared], output: OutputSink
) -> tuple[set[int], list[int]]:
    """(written, unwritten) record indices; a result the sink refuses is a dead letter."""
    records, reasons = ledger.records, ledger.reasons
    to_write = sorted(prepared)
    sent = _deliver(output, [prepared[i] for i in to_write], ledger.sink_errors, "output sink")
    written = set(to_write) if not (sent.refused or sent.retry) else set()
    unwritten = []
    for i in to_write if not written else ():
        event_id = records[i].event_id
        if event_id in sent.refused:  # the output will never take it: a dead letter
            reasons[i] = f"refused by {output.name}: {sent.refused[event_id]}"
        elif event_id in sent.retry:
            unwritten.append(i)
        else:
            written.add(i)
    return written, unwritten


def _write_dead_letters(
    ledger: _Ledger, unwritten: list[int], dead_letter: DeadLetterSink, ordered: bool
) -> tuple[set[int], set[int]]:
    """(held, unsafe): letters not written because Lambda delivers their records again (an
    ordered source, from the first unwritten result on: else written twice), and letters
    the dead-letter sink did not take."""
    records = ledger.records
    letters, held = sorted(ledger.reasons), set()
    if ordered and unwritten:
        first_unwritten = min(records[i].order for i in unwritten)
        held = {i for i in letters if records[i].order >= first_unwritten}
        letters = [i for i in letters if i not in held]
    docs = _dead_letter_docs(ledger, letters)
    dead = _deliver(dead_letter, docs, ledger.sink_errors, "dead-letter sink")
    unsafe = {i for i in letters if records[i].event_id in dead.undelivered}
    return held, unsafe


def _dead_letter_docs(ledger: _Ledger, indices: Iterable[int]) -> list[dict[str, Any]]:
    records, reasons = ledger.records, ledger.reasons
    return [
        {
            "event_id": records[i].event_id,
            "reason": cut(reasons[i]),  # a field name in it may be a megabyte long
            "data": records[i].data,
            "model_version": ledger.version,
            "failed_at": ledger.stamp,
        }
        for i in indices
    ]


def _answer(
    ledger: _Ledger, written: set[int], held: set[int], unsafe: set[int], ordered: bool
) -> list[RecordResult]:
    """Every record's one state, in the batch's order."""
    records, reasons = ledger.records, ledger.reasons
    if len(written) == len(records):  # the common case, in one pass without per-record tests
        return [new_tuple(RecordResult, (record, PREDICTED, "")) for record in records]
    results = []
    for index, record in enumerate(records):
        if index in written:
            results.append(RecordResult(record, PREDICTED))
        elif index in reasons:
            if index in unsafe:
                results.append(RecordResult(record, FAILED, "dead-letter write failed"))
            elif index in held:
                results.append(RecordResult(record, FAILED, AFTER_CHECKPOINT))
            else:
                results.append(RecordResult(record, DEAD_LETTERED, reasons[index]))
        else:
            results.append(RecordResult(record, FAILED, "result not written"))
    return _retry_from_checkpoint(results) if ordered else results


def _metrics(
    results: list[RecordResult], t0: float, t1: float, t2: float, t3: float
) -> BatchMetrics:
    statuses = [result.status for result in results]
    counts = {status: statuses.count(status) for status in (PREDICTED, DEAD_LETTERED, FAILED)}
    return BatchMetrics(
        records=len(results),
        predicted=counts[PREDICTED],
        dead_lettered=counts[DEAD_LETTERED],
        failed=counts[FAILED],
        decode_ms=(t1 - t0) * 1000,
        predict_ms=(t2 - t1) * 1000,
        deliver_ms=(t3 - t2) * 1000,
    )


def _retry_from_checkpoint(results: list[RecordResult]) -> list[RecordResult]:
    """Lambda redelivers an ordered source from its first failed record: mark them so."""
    failed_orders = [r.record.order for r in results if r.status == FAILED]
    if not failed_orders:
        return results
    checkpoint = min(failed_orders)
    return [
        r
        if r.status == FAILED or r.record.order < checkpoint
        else RecordResult(r.record, FAILED, AFTER_CHECKPOINT)
        for r in results
    ]
