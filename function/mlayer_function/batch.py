"""The pure core: records -> rows or bad records -> one vectorized predict -> delivery -> outcome.

No I/O and no globals: the model, the sinks and the clock come in as arguments, so every path
(bad records, a predict that raises, a sink that drops items) is tested with fakes.

Accounting: every record ends in exactly one state. ``predicted`` (its result is in the output
sink), ``dead_lettered`` (its reason and raw data are in the dead-letter sink) or ``failed``
(Lambda must deliver it again). For an ordered source (a Kinesis shard, a FIFO queue) Lambda
retries from the first failed record onwards, so everything from that checkpoint on is
``failed`` too, and results past a failed dead letter are not written at all: they would only
be written twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple, Protocol

from .decoding import BadRecord, RowRules, decode_payload, to_row

PREDICTED = "predicted"
DEAD_LETTERED = "dead_lettered"
FAILED = "failed"

# Errors that say the container, not the record, is broken: never blame (dead-letter) a
# record for them; let the invocation fail so Lambda retries the batch.
SYSTEMIC_ERRORS = (MemoryError, SystemError)


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


class Sink(Protocol):
    def write(self, docs: Sequence[dict]) -> set[str]:
        """Write the documents; return the event_ids that could not be written."""


class Clock(Protocol):
    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...


class Predictor(Protocol):
    version: str

    def predict(self, rows: list) -> tuple[list, list[dict] | None]: ...


class RecordResult(NamedTuple):
    record: InRecord
    status: str
    reason: str = ""


@dataclass(frozen=True)
class BatchMetrics:
    records: int
    predicted: int
    dead_lettered: int
    failed: int
    decode_ms: float
    predict_ms: float
    deliver_ms: float


@dataclass(frozen=True)
class BatchOutcome:
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


def iso_millis(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def error_reason(exc: BaseException) -> str:
    return f"predict failed: {type(exc).__name__}: {exc}"


def predict_isolating(
    predict: Callable[[list], tuple[list, list[dict] | None]], rows: list
) -> tuple[dict[int, tuple[object, dict | None]], dict[int, str]]:
    """Predict all rows in one call; if it raises, bisect until the offending rows are alone.

    Returns (position -> (label, probabilities)) and (position -> reason). A batch with one
    bad row costs about 2*log2(n) extra calls; a healthy batch costs exactly one.
    """
    predictions: dict[int, tuple[object, dict | None]] = {}
    errors: dict[int, str] = {}

    def attempt(positions: list[int]) -> None:
        try:
            labels, probas = predict([rows[p] for p in positions])
        except SYSTEMIC_ERRORS:
            raise
        except Exception as exc:
            if len(positions) == 1:
                errors[positions[0]] = error_reason(exc)
                return
            middle = len(positions) // 2
            attempt(positions[:middle])
            attempt(positions[middle:])
            return
        for i, p in enumerate(positions):
            predictions[p] = (labels[i], probas[i] if probas is not None else None)

    if rows:
        attempt(list(range(len(rows))))
    return predictions, errors


@dataclass
class _Decoded:
    good: list[tuple[int, object, object]] = field(default_factory=list)  # (index, id, row)
    bad: dict[int, str] = field(default_factory=dict)  # index -> reason


def _decode_all(records: Sequence[InRecord], rules: RowRules) -> _Decoded:
    decoded = _Decoded()
    for index, record in enumerate(records):
        try:
            obj = (
                record.data
                if record.encoding == "json"
                else decode_payload(record.data, record.encoding)
            )
            rid, row = to_row(obj, rules)
        except BadRecord as exc:
            decoded.bad[index] = exc.reason
        else:
            decoded.good.append((index, rid, row))
    return decoded


def _write(sink: Sink, docs: list[dict], errors: list[str], what: str) -> set[str]:
    """The event_ids a sink did not take; a sink that raises took none."""
    if not docs:
        return set()
    try:
        return set(sink.write(docs))
    except Exception as exc:
        errors.append(f"{what}: {type(exc).__name__}: {exc}")
        return {doc["event_id"] for doc in docs}


def process_batch(
    records: Sequence[InRecord],
    *,
    model: Predictor,
    rules: RowRules,
    output: Sink,
    dead_letter: Sink,
    clock: Clock,
    ordered: bool = True,
) -> BatchOutcome:
    """Decode, predict and deliver one batch; say what happened to every record."""
    t0 = clock.monotonic()
    decoded = _decode_all(records, rules)
    t1 = clock.monotonic()
    predictions, predict_errors = predict_isolating(
        model.predict, [row for _, _, row in decoded.good]
    )
    t2 = clock.monotonic()

    stamp = iso_millis(clock.now())
    reasons = dict(decoded.bad)
    docs: dict[int, dict] = {}
    for pos, (index, rid, _) in enumerate(decoded.good):
        if pos in predict_errors:
            reasons[index] = predict_errors[pos]
            continue
        label, probas = predictions[pos]
        doc: dict = {"id": rid, "prediction": label}
        if probas is not None:
            doc["probabilities"] = probas
        doc["model_version"] = model.version
        doc["event_id"] = records[index].event_id
        doc["predicted_at"] = stamp
        docs[index] = doc

    sink_errors: list[str] = []
    dead_docs = [
        {
            "event_id": records[i].event_id,
            "reason": reasons[i],
            "data": records[i].data,
            "model_version": model.version,
            "failed_at": stamp,
        }
        for i in sorted(reasons)
    ]
    not_dead_lettered = _write(dead_letter, dead_docs, sink_errors, "dead-letter sink")
    unsafe = {i for i in reasons if records[i].event_id in not_dead_lettered}

    to_write = sorted(docs)
    if ordered and unsafe:
        first_unsafe = min(records[i].order for i in unsafe)
        to_write = [i for i in to_write if records[i].order < first_unsafe]
    not_written = _write(output, [docs[i] for i in to_write], sink_errors, "output sink")
    written = {i for i in to_write if records[i].event_id not in not_written}
    t3 = clock.monotonic()

    results: list[RecordResult] = []
    for index, record in enumerate(records):
        if index in reasons:
            if index in unsafe:
                results.append(RecordResult(record, FAILED, "dead-letter write failed"))
            else:
                results.append(RecordResult(record, DEAD_LETTERED, reasons[index]))
        elif index in written:
            results.append(RecordResult(record, PREDICTED))
        else:
            results.append(RecordResult(record, FAILED, "result not written"))
    if ordered:
        results = _retry_from_checkpoint(results)

    counts = {PREDICTED: 0, DEAD_LETTERED: 0, FAILED: 0}
    for result in results:
        counts[result.status] += 1
    metrics = BatchMetrics(
        records=len(records),
        predicted=counts[PREDICTED],
        dead_lettered=counts[DEAD_LETTERED],
        failed=counts[FAILED],
        decode_ms=(t1 - t0) * 1000,
        predict_ms=(t2 - t1) * 1000,
        deliver_ms=(t3 - t2) * 1000,
    )
    return BatchOutcome(tuple(results), metrics, tuple(sink_errors))


def _retry_from_checkpoint(results: list[RecordResult]) -> list[RecordResult]:
    """Lambda redelivers an ordered source from its first failed record: mark them so."""
    failed_orders = [r.record.order for r in results if r.status == FAILED]
    if not failed_orders:
        return results
    checkpoint = min(failed_orders)
    return [
        r
        if r.status == FAILED or r.record.order < checkpoint
        else RecordResult(r.record, FAILED, "after the checkpoint: delivered again")
        for r in results
    ]


@dataclass(frozen=True)
class DirectResult:
    predictions: list[dict]
    predicted: int
    errors: int
    decode_ms: float
    predict_ms: float


def predict_instances(
    instances: Sequence[object], *, model: Predictor, rules: RowRules, clock: Clock
) -> DirectResult:
    """Synchronous prediction for a direct invocation: one answer per instance, in order.

    An instance is a record object; for convenience a bare string (text models) or a bare
    list of numbers (feature models) stands for ``{"text": …}`` / ``{"features": …}``. The id
    defaults to the instance's position.
    """
    t0 = clock.monotonic()
    answers: list[dict] = [{} for _ in instances]
    good: list[tuple[int, object]] = []
    for index, instance in enumerate(instances):
        obj = instance
        if isinstance(instance, str) and rules.input_kind == "text":
            obj = {"text": instance}
        elif isinstance(instance, list) and rules.input_kind == "features":
            obj = {"features": instance}
        if isinstance(obj, dict) and "id" not in obj:
            obj = {**obj, "id": index}
        try:
            rid, row = to_row(obj, rules)
        except BadRecord as exc:
            answers[index] = {"id": obj.get("id", index) if isinstance(obj, dict) else index}
            answers[index]["error"] = exc.reason
        else:
            answers[index] = {"id": rid}
            good.append((index, row))
    t1 = clock.monotonic()
    predictions, errors = predict_isolating(model.predict, [row for _, row in good])
    t2 = clock.monotonic()
    for pos, (index, _) in enumerate(good):
        if pos in errors:
            answers[index]["error"] = errors[pos]
            continue
        label, probas = predictions[pos]
        answers[index]["prediction"] = label
        if probas is not None:
            answers[index]["probabilities"] = probas
    return DirectResult(
        predictions=answers,
        predicted=len(predictions),
        errors=len(instances) - len(predictions),
        decode_ms=(t1 - t0) * 1000,
        predict_ms=(t2 - t1) * 1000,
    )
