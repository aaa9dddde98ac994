"""What the --sample records tell about table columns (mlayer/model/sample_kinds.py), and the publish
side's DataFrame for them (mlayer/model/samples.py), against real fitted pipelines.

Both halves of the contract agree: the column kinds and the ISO-8601 pattern are the same in
mlayer/ and function/ (they share no code, so a test holds them equal).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlayer.errors import ModelError
from mlayer.model import sample_kinds, schema
from mlayer.model.samples import expected_outputs

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "function"))

from mlayer_function import datetimes, tabular  # noqa: E402


def test_both_halves_name_the_same_column_kinds_and_date_pattern():
    assert schema.KINDS == tabular.KINDS
    assert sample_kinds.ISO_DATETIME.pattern == datetimes._ISO.pattern
    assert sample_kinds.ISO_SHAPE == datetimes.SHAPE


def pipeline(frame: pd.DataFrame, dates: list[str]):
    others = [c for c in frame.columns if c not in dates]
    ct = ColumnTransformer(
        [("num", "passthrough", others), *[(d, StandardScaler(), [d]) for d in dates]]
    )
    y = np.arange(len(frame)) % 2
    return make_pipeline(ct, RandomForestClassifier(n_estimators=5, random_state=0)).fit(frame, y)


def frame_of(unit: str, n: int = 40) -> pd.DataFrame:
    days = pd.to_timedelta(np.arange(n) * 17, unit="D")
    return pd.DataFrame(
        {
            "x": np.linspace(0, 1, n),
            "flag": np.arange(n) % 3 == 0,
            "when": (pd.Timestamp("2021-01-01").as_unit(unit) + days).as_unit(unit),
        }
    )


def records_of(frame: pd.DataFrame, offset: str = "") -> list[dict]:
    return [
        {"id": i, "x": float(r.x), "flag": bool(r.flag), "when": r.when.isoformat() + offset}
        for i, r in enumerate(frame.itertuples())
    ]


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_samples_make_bool_and_datetime_columns_in_the_fitted_unit(unit):
    frame = frame_of(unit)
    model = pipeline(frame, ["when"])
    base = schema.table_schema([model])
    assert [c["kind"] for c in base["columns"]] == ["number", "number", "number"]
    refined, notes = sample_kinds.refine_schema(base, records_of(frame), [model])
    kinds = {c["name"]: c for c in refined["columns"]}
    assert kinds["flag"]["kind"] == "boolean" and kinds["x"]["kind"] == "number"
    assert kinds["when"]["kind"] == "datetime" and kinds["when"]["unit"] == unit
    assert kinds["when"]["timezone"] is None
    assert any("counted its values in " + unit in n for n in notes)
    samples = expected_outputs([model], records_of(frame)[:10], "table", refined, proba=False)
    assert [s["prediction"] for s in samples] == model.predict(frame.head(10)).tolist()


def test_without_a_fitted_statistic_the_unit_is_pandas_reading_of_the_samples():
    frame = frame_of("us")
    model = make_pipeline(RandomForestClassifier(n_estimators=3, random_state=0))
    model.fit(frame[["when"]], np.arange(len(frame)) % 2)
    base = schema.table_schema([model])
    refined, notes = sample_kinds.refine_schema(base, records_of(frame), [model])
    assert refined["columns"][0]["unit"] == "us" and "as pd.to_datetime reads them" in notes[0]


def test_offsets_in_the_samples_make_a_utc_column():
    frame = frame_of("us")
    model = pipeline(frame, ["when"])
    records = records_of(frame, "+02:00")
    refined, notes = sample_kinds.refine_schema(schema.table_schema([model]), records, [model])
    when = refined["columns"][2]
    assert when["timezone"] == "UTC" and "instants in UTC" in notes[-1]


def test_a_sample_the_function_would_refuse_is_refused_at_publish():
    frame = frame_of("us")
    model = pipeline(frame, ["when"])
    records = records_of(frame)
    refined, _ = sample_kinds.refine_schema(schema.table_schema([model]), records, [model])
    bad = [{**records[0], "when": "2021-01-01T00:00:00+02:00"}]
    with pytest.raises(ModelError, match="without a UTC offset"):
        expected_outputs([model], bad, "table", refined, proba=False)
    bad = [{**records[0], "when": "01/02/2021"}]
    with pytest.raises(ModelError, match="must be an ISO-8601 date-time"):
        expected_outputs([model], bad, "table", refined, proba=False)


def test_mixed_values_leave_the_column_a_number_and_impossible_dates_are_refused():
    frame = frame_of("us")
    model = pipeline(frame, ["when"])
    records = records_of(frame)
    records[1] = {**records[1], "flag": 1}
    refined, notes = sample_kinds.refine_schema(schema.table_schema([model]), records, [model])
    assert [c["kind"] for c in refined["columns"]] == ["number", "number", "datetime"]
    assert len(notes) == 1 and "'when': datetime" in notes[0]
    with pytest.raises(ModelError, match="column 'flag' must be a number, got bool"):
        expected_outputs([model], records, "table", refined, proba=False)
    records[2] = {**records[2], "when": "2021-02-30"}
    with pytest.raises(ModelError, match="column 'when' holds ISO-8601 date-times, but not all"):
        sample_kinds.refine_schema(schema.table_schema([model]), records, [model])


def test_a_string_id_for_an_id_feature_is_refused_naming_the_rule():
    frame = pd.DataFrame({"id": np.arange(20.0), "x": np.linspace(0, 1, 20)})
    model = pipeline(frame, [])
    records = [{"id": f"r{i}", "x": 0.5} for i in range(3)]
    refined, notes = sample_kinds.refine_schema(schema.table_schema([model]), records, [model])
    assert len(notes) == 1 and notes[0].startswith("Column 'id' is one of the model's features")
    with pytest.raises(ModelError, match="the record's id is also the model's column 'id'"):
        expected_outputs([model], records, "table", refined, proba=False)


def test_an_id_feature_whose_encoder_refuses_new_values_is_said_so():
    column = {"name": "id", "kind": "string", "categories": ["a", "b"], "handle_unknown": "error"}
    (note,) = sample_kinds.id_notes({"columns": [column]})
    assert "one of the 2 categories its encoder knows (a new id is refused)" in note
