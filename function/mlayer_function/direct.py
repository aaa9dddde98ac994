"""A direct (synchronous) invocation: ``{"instances": [...]}`` in, one answer per instance out.

Nothing is written to a sink: the caller gets the predictions back. Whatever goes wrong with
one instance (decoding, validating, predicting) is that instance's ``error``, never the call's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from .batch_ports import Clock, Predictor
from .decoding import BadRecord, RowRules, to_row
from .delivery import SYSTEMIC_ERRORS, cut, describe
from .predict_isolation import predict_isolating


class DirectResult(NamedTuple):
    predictions: list[dict[str, Any]]
    predicted: int
    errors: int
    decode_ms: float
    predict_ms: float


def _as_record(instance: object, index: int, rules: RowRules) -> object:
    """A bare string (text models) or list of numbers (feature models) stands for a record."""
    obj = instance
    if isinstance(instance, str) and rules.input_kind == "text":
        obj = {"text": instance}
    elif isinstance(instance, list) and rules.input_kind == "features":
        obj = {"features": instance}
    if isinstance(obj, dict) and "id" not in obj and not _id_is_a_column(rules):
        obj = {**obj, "id": index}
    return obj


def _id_is_a_column(rules: RowRules) -> bool:
    """A table model with a feature named ``id``: its value is never the instance's position."""
    return rules.table is not None and "id" in rules.table.names


def predict_instances(
    instances: Sequence[object], *, model: Predictor, rules: RowRules, clock: Clock
) -> DirectResult:
    """One answer per instance, in order; the id defaults to the instance's position."""
    t0 = clock.monotonic()
    answers: list[dict[str, Any]] = [{} for _ in instances]
    good: list[tuple[int, object]] = []
    for index, instance in enumerate(instances):
        obj = _as_record(instance, index, rules)
        try:
            rid, row = to_row(obj, rules)
        except BadRecord as exc:
            error = cut(exc.reason)  # a field name in it may be a megabyte long
        except SYSTEMIC_ERRORS:
            raise
        except Exception as exc:
            error = f"cannot decode: {describe(exc)}"
        else:
            answers[index] = {"id": rid}
            good.append((index, row))
            continue
        answers[index] = {"id": obj.get("id", index) if isinstance(obj, dict) else index}
        answers[index]["error"] = error
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
