"""Boolean and datetime table columns, record by record (issue 23, cases 1 and 3).

The function's ISO-8601 reading (function/mlayer_function/datetimes.py) is held equal to
``pd.to_datetime(..., format="ISO8601")`` on generated date-times in every unit, with and
without offsets; hostile values (wrong JSON types, huge and 5,000-digit numbers, arbitrary
text) are dead letters naming the column, never another exception. The publish side infers the
kinds from the samples (mlayer.model.sample_kinds) and says so.
"""

from __future__ import annotations

import base64
import json
import math
import sys
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "function"))

from mlayer_function.datetimes import DateError, parse, parse_pure  # noqa: E402
from mlayer_function.decoding import BadRecord, RowRules, decode_payload, to_row  # noqa: E402
from mlayer_function.tabular import TableSchema  # noqa: E402

from mlayer.model.sample_kinds import id_notes, unit_of_statistic  # noqa: E402

UNITS = ("s", "ms", "us", "ns")


def schema(**datetime_column) -> TableSchema:
    return TableSchema.from_manifest(
        {
            "columns": [
                {"name": "age", "kind": "number", "nullable": False},
                {"name": "active", "kind": "boolean", "nullable": True},
                {"name": "signup", "kind": "datetime", "nullable": True, **datetime_column},
            ]
        }
    )


def rules(table: TableSchema) -> RowRules:
    return RowRules("table", table=table)


@st.composite
def iso_texts(draw) -> str:
    """ISO-8601 date-times of every shape the function reads, years 1678..2261 (ns range)."""
    stamp = draw(
        st.datetimes(min_value=pd.Timestamp("1678-01-01"), max_value=pd.Timestamp("2261-12-31"))
    )
    text = stamp.strftime("%Y-%m-%d")
    if draw(st.booleans()):
        text += draw(st.sampled_from("T ")) + stamp.strftime("%H:%M")
        if draw(st.booleans()):
            text += stamp.strftime(":%S")
            digits = draw(st.integers(0, 9))
            if digits:
                text += "." + "".join(
                    draw(st.lists(st.sampled_from("0123456789"), min_size=digits, max_size=digits))
                )
        if draw(st.booleans()):
            hours, minutes = draw(st.integers(0, 14)), draw(st.sampled_from([0, 30, 45]))
            sign = draw(st.sampled_from("+-"))
            text += draw(
                st.sampled_from(
                    ["Z", f"{sign}{hours:02d}:{minutes:02d}", f"{sign}{hours:02d}{minutes:02d}"]
                )
            )
    return text


def pandas_value(text: str, unit: str, utc: bool) -> int:
    parsed = pd.to_datetime([text], format="ISO8601", utc=utc).as_unit(unit)
    return int(parsed.asi8[0])


@settings(max_examples=300)
@given(text=iso_texts(), unit=st.sampled_from(UNITS))
@example(text="1969-12-31T23:59:59.999999999", unit="us")  # floored, as as_unit does
@example(text="2024-02-29", unit="s")
@example(text="2000-03-01T00:00:00+14:00", unit="ns")
@example(text="1969-12-31T23:59:59.999999999", unit="ns")
@example(text="1677-09-21T00:12:43.145224193", unit="ns")  # the first datetime64[ns] value
def test_the_function_reads_iso_8601_as_pandas_does(text, unit):
    with_offset = text.endswith("Z") or "+" in text[10:] or "-" in text[10:]
    for read in (parse, parse_pure):  # python3.11+ and python3.10
        assert read(text, unit, utc=True) == pandas_value(text, unit, utc=True)
        if with_offset:
            with pytest.raises(DateError, match="carries a UTC offset"):
                read(text, unit, utc=False)
        else:
            assert read(text, unit, utc=False) == pandas_value(text, unit, utc=False)


@settings(max_examples=300)
@given(
    text=st.text(max_size=40) | st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}.{0,20}", fullmatch=True)
)
@example(text="2024-02-30")
@example(text="2023-02-29")
@example(text="2024-03-15T24:00")
@example(text="2024-03-15T10:00:60")
@example(text="٢٠٢٤-03-15")  # Arabic-Indic digits: int() reads them, ISO does not
@example(text="2024-03-15T10:00+24:00")
@example(text="0000-01-01")
@example(text="2024-03-15T10:00:00.1234567890")
@example(text="2024-03")
@example(text="15/03/2024")
def test_text_the_function_takes_is_what_pandas_reads_the_same(text):
    outcomes = []
    for read in (parse, parse_pure):
        try:
            outcomes.append(read(text, "us", utc=True))
        except DateError as exc:
            outcomes.append(str(exc))  # refused: a dead letter naming the column (below)
    assert outcomes[0] == outcomes[1]
    if isinstance(outcomes[0], int):
        assert outcomes[0] == pandas_value(text, "us", utc=True)


@pytest.mark.parametrize("read", [parse, parse_pure])
def test_the_ns_unit_refuses_dates_datetime64_ns_cannot_hold(read):
    assert read("2262-04-11", "ns", utc=False) == pandas_value("2262-04-11", "ns", False)
    for late in ("2262-04-12", "2262-04-12T00:00:00"):
        with pytest.raises(DateError, match=r"out of the range of datetime64\[ns\]"):
            read(late, "ns", utc=False)
    assert read("9999-12-31", "us", utc=False) == pandas_value("9999-12-31", "us", False)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


def record_bytes(active: object, signup: object, age: str = "40") -> str:
    text = f'{{"id": "r1", "age": {age}, "active": {json.dumps(active)}, "signup": {json.dumps(signup)}}}'
    return base64.b64encode(text.encode()).decode()


@settings(max_examples=300)
@given(active=JSON_VALUES, signup=JSON_VALUES, unit=st.sampled_from(UNITS))
def test_any_json_value_is_a_row_or_a_dead_letter_naming_its_column(active, signup, unit):
    table = schema(unit=unit, timezone="UTC")
    try:
        _, row = to_row(decode_payload(record_bytes(active, signup), "base64"), rules(table))
    except BadRecord as exc:
        assert "'active'" in exc.reason or "'signup'" in exc.reason
        return
    assert isinstance(active, bool) or active is None
    assert row[1] is active or (active is None and math.isnan(row[1]))
    assert isinstance(signup, str) or signup is None
    if signup is not None:
        assert row[2] == pandas_value(signup, unit, utc=True)


@pytest.mark.parametrize(
    "active, signup, age, reason",
    [
        (1, "2024-03-15", "40", "column 'active' must be true or false, got int"),
        ("true", "2024-03-15", "40", "column 'active' must be true or false, got str"),
        (True, 1710460800, "40", "column 'signup' must be an ISO-8601 date-time string, got int"),
        (True, 10**400, "40", "column 'signup' must be an ISO-8601 date-time string, got int"),
        (True, "9" * 5000, "40", "column 'signup': '" + "9" * 40 + "…' is not an ISO-8601"),
        (True, "2024-03-15", "1" + "0" * 5000, "not JSON"),  # over Python's int-digit limit
        (True, "2024-03-15", "1" + "0" * 4000, "column 'age' is too large for a float"),
        (True, "2024-03-15", "1" + "0" * 5000 + ".0", "non-finite value"),
        (True, "2024-03-15T10:00:00+02:00", "40", None),  # a UTC column converts offsets
    ],
)
def test_hostile_values_are_dead_letters_naming_the_column(active, signup, age, reason):
    table = schema(unit="us", timezone="UTC")
    data = record_bytes(active, signup, age)
    if reason is None:
        _, row = to_row(decode_payload(data, "base64"), rules(table))
        assert row[2] == pandas_value(signup, "us", utc=True)
        return
    with pytest.raises(BadRecord) as caught:
        to_row(decode_payload(data, "base64"), rules(table))
    assert reason in caught.value.reason


def test_frames_hold_the_dtypes_the_pipeline_was_fitted_on():
    naive = schema(unit="ms", timezone=None)
    rows = [
        naive.row({"id": i, "age": 40, "active": a, "signup": s})
        for i, (a, s) in enumerate([(True, "2024-03-15T10:00:00.123"), (False, None)])
    ]
    frame = naive.frame(rows)
    assert str(frame["active"].dtype) == "bool" and str(frame["signup"].dtype) == "datetime64[ms]"
    assert frame["signup"].iloc[0] == pd.Timestamp("2024-03-15T10:00:00.123") and pd.isna(
        frame["signup"].iloc[1]
    )
    utc = schema(unit="us", timezone="UTC")
    frame = utc.frame(
        [utc.row({"id": 1, "age": 1, "active": None, "signup": "2024-03-15T10:00+02:00"})]
    )
    assert str(frame["signup"].dtype) == "datetime64[us, UTC]"
    assert frame["signup"].iloc[0] == pd.Timestamp("2024-03-15T08:00", tz="UTC")


def test_a_manifest_datetime_needs_a_known_unit_and_timezone():
    with pytest.raises(ValueError, match="a datetime needs a unit"):
        schema(unit="weeks", timezone=None)
    with pytest.raises(ValueError, match="a datetime needs a unit"):
        schema(unit="us", timezone="Europe/Paris")


@pytest.mark.parametrize(
    "statistic, unit",
    [(1.71e9, "s"), (1.71e12, "ms"), (1.71e15, "us"), (1.71e18, "ns"), (5.0, None), (None, None)],
)
def test_a_fitted_statistic_names_the_unit_its_epoch_values_were_counted_in(statistic, unit):
    assert unit_of_statistic(statistic) == unit


def test_a_column_named_id_is_said_at_publish():
    notes = id_notes(
        {"columns": [{"name": "id", "kind": "number"}, {"name": "x", "kind": "number"}]}
    )
    assert len(notes) == 1 and "ids must be integers" in notes[0]
    assert id_notes({"columns": [{"name": "x", "kind": "number"}]}) == []


def test_a_direct_instance_without_id_is_refused_when_id_is_a_feature():
    """Its position must not become the model's 'id' value (docs/FORMATS.md: the id is both)."""
    from mlayer_function import direct

    class Echo:
        version = "v1"

        def predict(self, rows):
            return [row[0] for row in rows], None

    class Clock:
        def monotonic(self) -> float:
            return 0.0

    table = TableSchema.from_manifest(
        {"columns": [{"name": "id", "kind": "number", "nullable": False}]}, frames=False
    )
    result = direct.predict_instances(
        [{"id": 7}, {}], model=Echo(), rules=RowRules("table", table=table), clock=Clock()
    )
    assert result.predictions == [{"id": 7, "prediction": 7}, {"id": 1, "error": "no id"}]
