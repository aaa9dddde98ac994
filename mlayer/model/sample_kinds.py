"""What the ``--sample`` records say about table columns the fitted pipeline cannot type.

scikit-learn keeps no dtypes: a bool or datetime64 column that reaches a scaler, an imputer or
the estimator itself looks like any number column (mlayer.model.schema types it ``number``). The
user's own records can tell: a number column whose sample values are all JSON booleans was a
bool column (``boolean``); one whose values are all ISO-8601 strings was a datetime64 column
(``datetime``, with the unit its values were counted in and whether they were in UTC). Each
inference is said in a note publish-model prints, and so is a column named ``id`` (records
carry their id in that same field, docs/FORMATS.md).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from mlayer.errors import ModelError
from mlayer.model.schema import column_chains, fitted_statistic

# The ISO-8601 shapes the function reads (function/mlayer_function/datetimes.py, the same pattern)
ISO_DATETIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,9}))?)?"
    r"(Z|[+-][0-9]{2}(?::?[0-9]{2})?)?)?"
)
ISO_SHAPE = "YYYY-MM-DD[THH:MM[:SS[.fff]]][Z|±HH:MM]"
# |epoch| of dates after 1973 in each unit: the magnitudes do not overlap until year 5138
_MAGNITUDES = (("ns", 1e17), ("us", 1e14), ("ms", 1e11), ("s", 1e8))


def _present(records: Sequence[dict], name: str) -> list[Any]:
    return [r[name] for r in records if r.get(name) is not None]


def unit_of_statistic(value: float | None) -> str | None:
    """The datetime64 unit a fitted statistic of epoch values was counted in, or None."""
    if value is None:
        return None
    for unit, floor in _MAGNITUDES:
        if abs(value) >= floor:
            return unit
    return None


def datetime_entry(column: dict, values: list[str], statistic: float | None) -> tuple[dict, str]:
    """The column as ``datetime``: unit and timezone, and the note saying how they were chosen."""
    import pandas as pd

    utc = any(ISO_DATETIME.fullmatch(v).group(8) for v in values)
    parsed = pd.to_datetime(values, format="ISO8601", utc=utc)  # raises for 2024-02-30
    unit = unit_of_statistic(statistic)
    how = f"the step fitted on it counted its values in {unit}" if unit else ""
    if unit is None:
        unit = str(parsed.unit)
        how = "as pd.to_datetime reads them here; if the training frame held another unit, refit"
    entry = {**column, "kind": "datetime", "unit": unit, "timezone": "UTC" if utc else None}
    zone = "instants in UTC (the samples carry UTC offsets)" if utc else "wall-clock times"
    note = (
        f"Column {column['name']!r}: datetime (the --sample records hold ISO-8601 strings), "
        f"datetime64[{unit}] {zone} ({how}); records must carry {ISO_SHAPE}."
    )
    return entry, note


def _id_note(column: dict) -> str:
    kind = column["kind"]
    wanted = ("integers" if kind == "number" else f"{kind} values") + " the model takes"
    if column.get("categories") is not None and column.get("handle_unknown") == "error":
        wanted = f"one of the {len(column['categories'])} categories its encoder knows (a new id is refused)"
    return (
        f"Column 'id' is one of the model's features: a record's \"id\" field is both its id "
        f"(echoed in results) and that column's value, so ids must be {wanted}; "
        "other records are dead-lettered. Rename the column and refit to keep ids free."
    )


def refine_schema(
    schema: dict, records: Sequence[dict], loaded: Sequence[Any]
) -> tuple[dict, list[str]]:
    """The schema with bool and datetime columns the samples reveal, and notes saying so."""
    chains, rest = column_chains(loaded)
    columns, notes = [], []
    for column in schema["columns"]:
        name = column["name"]
        values = _present(records, name)
        if column["kind"] == "number" and column["categories"] is None and values:
            if all(isinstance(v, bool) for v in values):
                column = {**column, "kind": "boolean"}
                notes.append(
                    f"Column {name!r}: boolean (the --sample records hold true/false; the "
                    "pipeline's steps do not say); records must carry true or false."
                )
            elif all(isinstance(v, str) and ISO_DATETIME.fullmatch(v) for v in values):
                statistic = fitted_statistic(name, chains.get(name, []) + rest)
                try:
                    column, note = datetime_entry(column, values, statistic)
                except ValueError as exc:  # e.g. 2024-02-30: no such date
                    raise ModelError(
                        f"--sample: column {name!r} holds ISO-8601 date-times, but not all are "
                        f"dates pandas can read: {str(exc)[:200]}",
                        "Fix the --sample file.",
                    ) from None
                notes.append(note)
        if name == "id":
            notes.append(_id_note(column))
        columns.append(column)
    return {**schema, "columns": columns}, notes


def id_notes(schema: dict) -> list[str]:
    """The note for a column named ``id``, without samples to refine the schema with."""
    return [_id_note(c) for c in schema["columns"] if c["name"] == "id"]
