"""Enough records for the parity gate: the user's samples, plus generated ones like them.

A hundred records rarely come with a model, and a gate run on three proves little. The
generated records stay close to what the model knows (the samples' values, the encoders'
categories, the vectorizer's own vocabulary, so non-ASCII terms are tried even when the samples
are ASCII) and are seeded: the same inputs give the same verdict.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

from mlayer.errors import UsageError
from mlayer.onnx.estimators import walk_estimators
from mlayer.onnx.graph_inputs import column_specs, schema_columns

MIN_RECORDS = 100
SEED = 0


def record_rows(records: Sequence[dict], input_kind: str, columns: Sequence[Any] = ()) -> list:
    """The model row of each sample record (the stream's own format), or UsageError."""
    names = [name for name, _ in column_specs(columns)] if input_kind == "table" else []
    rows = []
    for index, record in enumerate(records, 1):
        if not isinstance(record, dict):
            raise UsageError(f"sample {index} is not a JSON object.", "One record per line.")
        if input_kind == "text":
            value = record.get("text")
            if not isinstance(value, str):
                raise UsageError(f"sample {index} has no string 'text'.", 'Use {"text": "..."}.')
            rows.append(value)
        elif input_kind == "features":
            value = record.get("features")
            if not isinstance(value, list) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
            ):
                raise UsageError(
                    f"sample {index} has no 'features' list of numbers.",
                    'Use {"features": [1.0, 2.5, ...]}.',
                )
            rows.append([float(v) for v in value])
        else:
            rows.append({name: record.get(name) for name in names})
    return rows


def _vocabulary(steps: Sequence[Any]) -> list[str]:
    words: set[str] = set()
    for step in steps:
        for est in walk_estimators(step):
            vocab = getattr(est, "vocabulary_", None)
            if isinstance(vocab, dict):
                words.update(str(w) for w in vocab)
    return sorted(words)


def _texts(rows: list[str], steps: Sequence[Any], rng: random.Random, count: int) -> list[str]:
    sample_words = sorted({w for row in rows for w in row.split()}) or ["text"]
    vocab = _vocabulary(steps) or sample_words
    out = []
    for _ in range(count):
        words = [
            rng.choice(vocab if rng.random() < 0.5 else sample_words)
            for _ in range(rng.randint(2, 12))
        ]
        if rng.random() < 0.2:
            words = [w.capitalize() for w in words]
        out.append(" ".join(words) + rng.choice(["", ".", "!", "?"]))
    return out


def _spread(values: list[float]) -> float:
    if len(values) < 2:
        return abs(values[0]) * 0.1 + 1.0 if values else 1.0
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    return std or abs(mean) * 0.1 or 1.0


def _features(rows: list[list[float]], rng: random.Random, count: int) -> list[list[float]]:
    width = len(rows[0])
    spreads = [_spread([r[j] for r in rows]) for j in range(width)]
    out = []
    for _ in range(count):
        base = rng.choice(rows)
        out.append([base[j] + rng.gauss(0.0, 0.5) * spreads[j] for j in range(width)])
    return out


def _column_values(spec: Any, rows: list[dict], name: str) -> tuple[list, bool, list]:
    seen = [r.get(name) for r in rows]
    present = [v for v in seen if v is not None]
    categories = list(spec.get("categories") or []) if isinstance(spec, dict) else []
    nullable = any(v is None for v in seen) or (isinstance(spec, dict) and spec.get("nullable"))
    return present, bool(nullable), categories


def _table(rows: list[dict], columns: Sequence[Any], rng: random.Random, count: int) -> list[dict]:
    columns = schema_columns(columns)
    specs = list(zip(columns, column_specs(columns), strict=True))
    out = []
    for _ in range(count):
        row = {}
        for spec, (name, kind) in specs:
            present, nullable, categories = _column_values(spec, rows, name)
            if nullable and rng.random() < 0.1:
                row[name] = None
            elif kind == "string":
                row[name] = rng.choice(sorted({str(v) for v in present} | set(categories)) or [""])
            elif kind == "boolean":
                row[name] = rng.random() < 0.5
            else:
                numbers = [float(v) for v in present] or [0.0]
                value = rng.choice(numbers) + rng.gauss(0.0, 0.3) * _spread(numbers)
                whole = all(float(v).is_integer() for v in numbers)
                row[name] = float(round(value)) if whole else value
        out.append(row)
    return out


def expand_rows(
    rows: list,
    input_kind: str,
    steps: Sequence[Any],
    columns: Sequence[Any] = (),
    minimum: int = MIN_RECORDS,
) -> tuple[list, int]:
    """``rows`` followed by generated rows up to ``minimum``; returns (rows, how many generated)."""
    if not rows:
        raise UsageError(
            "--format onnx needs --sample: records to check the ONNX graph against scikit-learn.",
            "Pass --sample FILE with JSON lines of input records (100 or more is best).",
        )
    count = max(0, minimum - len(rows))
    if count == 0:
        return list(rows), 0
    rng = random.Random(SEED)
    if input_kind == "text":
        extra: list = _texts(rows, steps, rng, count)
    elif input_kind == "features":
        extra = _features(rows, rng, count)
    else:
        extra = _table(rows, columns, rng, count)
    return list(rows) + extra, count
