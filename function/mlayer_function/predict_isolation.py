"""One vectorized predict per batch, bisected only when it raises, so one bad row fails alone.

The stream (batch.py), the direct invocation (direct.py) and the file chunks (file_scoring.py)
all predict this way: a healthy batch costs exactly one call, a batch with one bad row about
2*log2(n) more, and only that row gets a reason. Errors about the container (SYSTEMIC_ERRORS)
are never isolated: they fail the invocation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .delivery import SYSTEMIC_ERRORS, describe

Predict = Callable[[list[Any]], tuple[list[Any], list[dict[str, Any]] | None]]


def error_reason(exc: BaseException) -> str:
    return f"predict failed: {describe(exc)}"


def predict_isolating(
    predict: Predict, rows: list[Any]
) -> tuple[dict[int, tuple[object, dict[str, Any] | None]], dict[int, str]]:
    """Predict all rows in one call; if it raises, bisect until the offending rows are alone.

    Returns (position -> (label, probabilities)) and (position -> reason).
    """
    predictions: dict[int, tuple[object, dict[str, Any] | None]] = {}
    errors: dict[int, str] = {}

    def attempt(positions: list[int]) -> None:
        try:
            labels, probas = predict([rows[p] for p in positions])
            if len(labels) != len(positions) or (probas is not None and len(probas) != len(labels)):
                raise ValueError(f"{len(labels)} predictions for {len(positions)} rows")
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
        # no probabilities: None beside each label
        pairs = zip(labels, probas or [None] * len(labels), strict=True)  # type: ignore[list-item]
        predictions.update(zip(positions, pairs, strict=True))

    if rows:
        attempt(list(range(len(rows))))
    return predictions, errors
