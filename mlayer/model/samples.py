"""``publish-model --sample FILE``: input records kept in the manifest with the predictions
scikit-learn makes for them here, at publish time.

The function predicts them again at cold start and refuses to serve when it does not reproduce
them: the last line of defence against a dependencies layer or an architecture that loads the
model but predicts differently. Records are the stream's own format (JSON lines), so a user can
take them from the stream itself. pandas is imported only for table models.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlayer.errors import ModelError, UsageError

MAX_SAMPLES = 20
_NUMBER = (int, float)


def read_samples(path: str | Path, limit: int = MAX_SAMPLES) -> tuple[list[dict[str, Any]], int]:
    """(the first ``limit`` records of a JSON-lines file, how many more it held)."""
    path = Path(path)
    try:
        # JSON lines end at "\n" (a "\r" before it is JSON whitespace); splitlines() would also
        # cut a record at a U+2028 or U+0085 that JSON allows as it is inside a string
        lines = path.read_text(encoding="utf-8").split("\n")
    except FileNotFoundError:
        raise UsageError(f"--sample {path} does not exist.", "Pass a JSON-lines file.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(
            f"Cannot read --sample {path}: {exc}.", "Pass a UTF-8 JSON-lines file."
        ) from None
    records: list[dict[str, Any]] = []
    extra = 0
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if len(records) == limit:
            extra += 1
            continue
        try:
            record = json.loads(line, parse_constant=_refuse_constant)
        except ValueError as exc:
            raise UsageError(
                f"--sample {path} line {number} is not JSON: {exc}.",
                "Each line holds one record as the stream carries it.",
            ) from None
        if not isinstance(record, dict) or "id" not in record:
            raise UsageError(
                f"--sample {path} line {number} is not a record with an id.",
                'Each line is a JSON object like {"id": "a-1", ...}.',
            )
        records.append(record)
    if not records:
        raise UsageError(f"--sample {path} holds no record.", "Add at least one JSON line.")
    return records, extra


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def _rows(records: Sequence[dict[str, Any]], kind: str, schema: dict[str, Any] | None) -> Any:
    """What the pipeline's first step takes for these records, as the function builds it."""
    if kind == "text":
        return [_field(r, "text") for r in records]
    if kind == "features":
        import numpy as np

        return np.asarray([_field(r, "features") for r in records], dtype=np.float64)
    if kind == "record":
        return list(records)
    return _frame(records, (schema or {})["columns"])


def _field(record: dict[str, Any], name: str) -> Any:
    if name not in record:
        raise ModelError(
            f"Sample record {record['id']!r} has no {name!r}.", "Fix the --sample file."
        )
    return record[name]


def _datetimes(records: Sequence[dict[str, Any]], column: dict[str, Any], values: list[Any]) -> Any:
    """A datetime column as the function builds it: pd.to_datetime's reading, in the unit and
    timezone the schema says; a value the function would refuse is refused here."""
    import pandas as pd

    from mlayer.model.sample_kinds import ISO_DATETIME, ISO_SHAPE

    utc = column.get("timezone") == "UTC"
    for record, value in zip(records, values, strict=True):
        if value is None and not column["nullable"]:
            raise ModelError(
                f"Sample record {record['id']!r}: column {column['name']!r} is null and the "
                "model takes none.",
                "Fix the --sample file.",
            )
        match = ISO_DATETIME.fullmatch(value) if isinstance(value, str) else None
        if value is not None and (match is None or (match.group(8) and not utc)):
            raise ModelError(
                f"Sample record {record['id']!r}: column {column['name']!r} must be an "
                f"ISO-8601 date-time ({ISO_SHAPE}"
                f"{', without a UTC offset' if not utc else ''}), got {value!r:.60}.",
                "Fix the --sample file.",
            )
    try:
        return pd.to_datetime(values, format="ISO8601", utc=utc).as_unit(column["unit"])
    except (ValueError, OverflowError) as exc:
        raise ModelError(
            f"Sample records: column {column['name']!r} holds a date-time pandas cannot read: {exc}",
            "Fix the --sample file.",
        ) from None


def _frame(records: Sequence[dict[str, Any]], columns: list[dict[str, Any]]) -> Any:
    import numpy as np
    import pandas as pd

    data = {}
    for column in columns:
        name, kind = column["name"], column["kind"]
        if kind == "datetime":
            data[name] = _datetimes(records, column, [_field(r, name) for r in records])
            continue
        values = []
        for record in records:
            value = _field(record, name)
            if value is None and not column["nullable"]:
                raise ModelError(
                    f"Sample record {record['id']!r}: column {name!r} is null and the model takes none.",
                    "Fix the --sample file.",
                )
            ok = (
                value is None
                or (kind == "number" and isinstance(value, _NUMBER) and not isinstance(value, bool))
                or (kind == "string" and isinstance(value, str))
                or (kind == "boolean" and isinstance(value, bool))
            )
            if not ok:
                same = " (the record's id is also the model's column 'id')" if name == "id" else ""
                raise ModelError(
                    f"Sample record {record['id']!r}: column {name!r} must be a {kind}, "
                    f"got {type(value).__name__}{same}.",
                    "Fix the --sample file.",
                )
            values.append(math.nan if value is None else value)
        if kind == "number":
            data[name] = np.array(values, dtype=np.float64)
        elif kind == "boolean" and not any(v is math.nan for v in values):
            data[name] = np.array(values, dtype=bool)
        else:
            array = np.empty(len(values), dtype=object)
            array[:] = values
            data[name] = array
    return pd.DataFrame(data, columns=[c["name"] for c in columns])


def plain(value: Any) -> Any:
    """A numpy scalar as the JSON value it stands for; an array (one record's outputs of a
    multi-output model) as a list of them."""
    if getattr(value, "ndim", 0):
        return [plain(v) for v in value]
    item = getattr(value, "item", None)
    return item() if callable(item) and not isinstance(value, (str, bytes)) else value


def class_key(value: Any) -> str:
    """A class as a probabilities key, as the function writes it (strings as they are)."""
    value = plain(value)
    return value if isinstance(value, str) else json.dumps(value)


def expected_outputs(
    loaded: Sequence[Any],
    records: Sequence[dict[str, Any]],
    kind: str,
    schema: dict[str, Any] | None,
    proba: bool,
) -> list[dict[str, Any]]:
    """``samples`` for the manifest: each record with what this scikit-learn predicts for it."""
    *preprocessors, model = loaded
    try:
        x = _rows(records, kind, schema)
        for step in preprocessors:
            x = step.transform(x)
        labels = [plain(v) for v in model.predict(x)]
        probas = model.predict_proba(x) if proba else None
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(
            f"The model cannot predict the --sample records: {type(exc).__name__}: {exc}",
            "Each sample must be a record the model accepts, in the stream's format.",
        ) from exc
    keys = [class_key(c) for c in getattr(model, "classes_", [])]
    out = []
    for i, record in enumerate(records):
        sample: dict[str, Any] = {"record": record, "prediction": labels[i]}
        if probas is not None:
            sample["probabilities"] = {k: float(p) for k, p in zip(keys, probas[i], strict=True)}
        out.append(sample)
    return out
