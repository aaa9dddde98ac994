"""TableSchema.row takes a value of its column's kind without Column.check: for any schema and
any record, its answer (the row, or the BadRecord's reason) and its count of fields that are
not columns must be those of the column-by-column reference (``_checked``)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "function"))

from mlayer_function.decoding import BadRecord  # noqa: E402
from mlayer_function.tabular import MAX_FLOAT_INT, TableSchema  # noqa: E402

NAMES = ["a", "b", "c", "d"]
values = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**1030), max_value=2**1030)
    | st.sampled_from([MAX_FLOAT_INT, MAX_FLOAT_INT - 1, -MAX_FLOAT_INT, 1 - MAX_FLOAT_INT, 0, 1])
    | st.floats()  # nan and the infinities too (a JSON 1e400 is inf)
    | st.sampled_from(["x", "y", "z", "2024-03-15", "2024-03-15T10:00:00", "nope", ""])
    | st.lists(st.integers(), max_size=2)
)


@st.composite
def schemas(draw: st.DrawFn) -> dict:
    columns = []
    for name in draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4, unique=True)):
        kind = draw(st.sampled_from(["number", "string", "boolean", "datetime"]))
        column = {"name": name, "kind": kind, "nullable": draw(st.booleans())}
        if draw(st.booleans()) and kind != "datetime":
            pool = {"number": [0, 1, 2.5], "string": ["x", "y"], "boolean": [True]}[kind]
            column["categories"] = draw(st.lists(st.sampled_from(pool), min_size=1, unique=True))
            column["handle_unknown"] = draw(st.sampled_from(["error", "ignore"]))
        columns.append(column)
    return {"columns": columns}


def answer(schema: TableSchema, read, obj: dict) -> object:
    try:
        row = read(obj)
    except BadRecord as exc:
        return ("bad", exc.reason, schema.take_extra_fields())
    shown = tuple("nan" if isinstance(v, float) and math.isnan(v) else (type(v), v) for v in row)
    return ("row", shown, schema.take_extra_fields())


@st.composite
def records(draw: st.DrawFn, schema: dict) -> dict:
    """Mostly every column, each value often of its kind, sometimes anything; id and extras."""
    kinds = {
        "number": st.integers(-5, 5)
        | st.floats()
        | st.sampled_from([math.inf, -math.inf, math.nan]),
        "string": st.sampled_from(["x", "y", "z"]),
        "boolean": st.booleans(),
        "datetime": st.sampled_from(["2024-03-15", "2024-03-15T10:00:00Z", "15/03/2024"]),
    }
    obj = {}
    for column in schema["columns"]:
        if draw(st.integers(0, 9)) == 0:
            continue  # missing
        typical = kinds[column["kind"]]
        obj[column["name"]] = draw(typical | values if draw(st.booleans()) else typical)
    if draw(st.booleans()):
        obj["id"] = draw(st.integers() | st.text(max_size=3))
    if draw(st.booleans()):
        obj["extra"] = draw(values)
    return obj


@settings(max_examples=400)
@given(data=st.data(), schema=schemas())
def test_the_fast_row_answers_as_the_column_by_column_check(data, schema):
    table = TableSchema.from_manifest(schema, frames=False)
    obj = data.draw(records(schema))
    assert answer(table, table.row, obj) == answer(table, table._checked, obj)


def test_a_missing_column_after_a_wrong_one_names_the_wrong_one():
    schema = {
        "columns": [
            {"name": "a", "kind": "number", "nullable": False},
            {"name": "b", "kind": "number", "nullable": False},
        ]
    }
    table = TableSchema.from_manifest(schema, frames=False)
    for obj, reason in [
        ({"a": "1"}, "wrong type: column 'a' must be a number, got str"),
        ({"b": 1}, "missing column: 'a'"),
        ({"a": 1}, "missing column: 'b'"),
    ]:
        try:
            table.row(obj)
        except BadRecord as exc:
            assert exc.reason == reason
        else:
            raise AssertionError(f"{obj} was taken")
