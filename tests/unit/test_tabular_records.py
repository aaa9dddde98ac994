"""function/mlayer_function/tabular.py: each record checked against the table schema alone."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "function"))

from mlayer_function.decoding import BadRecord, RowRules, to_row  # noqa: E402
from mlayer_function.tabular import TableSchema  # noqa: E402

SCHEMA = {
    "columns": [
        {"name": "age", "kind": "number", "nullable": False, "categories": None},
        {"name": "income", "kind": "number", "nullable": True, "categories": None},
        {
            "name": "city",
            "kind": "string",
            "nullable": True,
            "categories": ["oslo", "paris"],
            "handle_unknown": "ignore",
        },
        {
            "name": "plan",
            "kind": "string",
            "nullable": False,
            "categories": ["basic", "pro"],
            "handle_unknown": "error",
        },
        {"name": "active", "kind": "boolean", "nullable": False, "categories": None},
    ]
}
GOOD = {"id": "c1", "age": 42, "income": None, "city": "tokyo", "plan": "pro", "active": True}


@pytest.fixture(scope="module")
def rules() -> RowRules:
    return RowRules("table", table=TableSchema.from_manifest(SCHEMA))


def test_a_good_record_becomes_its_values_in_column_order(rules):
    rid, row = to_row(GOOD, rules)
    assert rid == "c1"
    assert row[0] == 42 and math.isnan(row[1]) and row[2:] == ("tokyo", "pro", True)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"age": "42"}, "wrong type: column 'age' must be a number, got str"),
        ({"age": True}, "wrong type: column 'age' must be a number, got bool"),
        ({"age": None}, "missing value: column 'age' is null"),
        ({"age": 10**400}, "non-finite value: column 'age'"),
        ({"age": float("inf")}, "non-finite value: column 'age' is inf"),  # JSON's 1e400
        ({"city": 3}, "wrong type: column 'city' must be a string, got int"),
        ({"plan": "gold"}, "unknown category: column 'plan' is 'gold'"),
        ({"active": 1}, "wrong type: column 'active' must be true or false, got int"),
    ],
)
def test_a_bad_value_is_refused_naming_the_column(rules, change, reason):
    with pytest.raises(BadRecord) as caught:
        to_row({**GOOD, **change}, rules)
    assert caught.value.reason.startswith(reason)


def test_a_missing_column_is_named(rules):
    record = {k: v for k, v in GOOD.items() if k != "plan"}
    with pytest.raises(BadRecord, match="missing column: 'plan'"):
        to_row(record, rules)


def test_fields_that_are_not_columns_are_ignored_and_counted(rules):
    rules.table.take_extra_fields()
    to_row({**GOOD, "note": "x", "source": 1}, rules)
    to_row({**GOOD, "note": "y"}, rules)
    to_row(GOOD, rules)
    assert rules.table.take_extra_fields() == {"note": 2, "source": 1}
    assert rules.table.take_extra_fields() == {}


def test_the_frame_has_the_models_columns_and_dtypes(rules):
    rows = [to_row(GOOD, rules)[1], to_row({**GOOD, "income": 3.5, "city": None}, rules)[1]]
    df = rules.table.frame(rows)
    assert list(df.columns) == ["age", "income", "city", "plan", "active"]
    dtypes = [str(t) for t in df.dtypes]
    assert dtypes[:2] == ["float64", "float64"] and dtypes[4] == "bool"
    assert set(dtypes[2:4]) <= {"object", "str"}  # pandas 3 infers its string dtype
    assert df["income"].isna().tolist() == [True, False]
    assert df["city"].isna().tolist() == [False, True]  # NaN, as pandas reads a missing string
    assert len(rules.table.frame([])) == 0


@pytest.mark.parametrize(
    "schema",
    [None, {"columns": []}, {"columns": [{"name": "a", "kind": "date"}]}, {"columns": "a"}],
)
def test_a_schema_the_function_cannot_use_is_refused(schema):
    with pytest.raises(ValueError):
        TableSchema.from_manifest(schema)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=5,
)


@given(st.dictionaries(st.sampled_from(["id", *GOOD, "x"]), json_values))
def test_any_json_object_is_a_row_or_a_bad_record(obj):
    rules = RowRules("table", table=TableSchema.from_manifest(SCHEMA))
    try:
        _, row = to_row(obj, rules)
    except BadRecord as exc:
        assert exc.reason
    else:
        assert len(row) == 5
        assert all(not isinstance(v, float) or v == v or math.isnan(v) for v in row)
        rules.table.frame([row])
