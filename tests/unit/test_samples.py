"""mlayer.model.samples: --sample files read as the stream's records, predicted at publish time."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from mlayer.errors import ModelError, UsageError
from mlayer.model.samples import MAX_SAMPLES, expected_outputs, read_samples
from mlayer.model.schema import table_schema


def write(tmp_path, lines: list[str]):
    path = tmp_path / "samples.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_up_to_twenty_records_are_kept_and_the_rest_counted(tmp_path):
    path = write(tmp_path, [json.dumps({"id": i, "text": "x"}) for i in range(25)] + [""])
    records, dropped = read_samples(path)
    assert len(records) == MAX_SAMPLES and records[0] == {"id": 0, "text": "x"}
    assert dropped == 5


def test_a_record_may_hold_line_separators_that_json_allows_as_they_are(tmp_path):
    """Lines end at \n (or \r\n); U+2028, U+0085 and a form feed inside a string are text."""
    texts = ["a\u2028b", "c\x85d", "e\x0cf"]
    path = tmp_path / "samples.jsonl"
    lines = [json.dumps({"id": i, "text": t}, ensure_ascii=False) for i, t in enumerate(texts)]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8"))
    records, dropped = read_samples(path)
    assert [r["text"] for r in records] == texts and dropped == 0


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"id": 1, "text": "a"}', "{not json"], "line 2 is not JSON"),
        (['{"text": "a"}'], "line 1 is not a record with an id"),
        (["[1, 2]"], "line 1 is not a record with an id"),
        (['{"id": 1, "features": [NaN]}'], "line 1 is not JSON"),
        ([""], "holds no record"),
    ],
)
def test_a_file_that_is_not_records_is_refused_naming_the_line(tmp_path, lines, message):
    with pytest.raises(UsageError, match=message):
        read_samples(write(tmp_path, lines))


def test_a_missing_file_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        read_samples(tmp_path / "nope.jsonl")


@pytest.fixture(scope="module")
def hgb():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.normal(size=80), "b": rng.normal(size=80)})
    return HistGradientBoostingClassifier(max_iter=5).fit(df, (df["a"] > 0).astype(int))


def test_table_samples_are_predicted_as_the_pipeline_does(hgb):
    records = [{"id": "x", "a": 1.5, "b": None}, {"id": "y", "a": -1, "b": 0.5}]
    out = expected_outputs([hgb], records, "table", table_schema([hgb]), True)
    frame = pd.DataFrame({"a": [1.5, -1.0], "b": [np.nan, 0.5]})
    assert [s["prediction"] for s in out] == hgb.predict(frame).tolist()
    assert out[0]["probabilities"] == pytest.approx(
        dict(zip(["0", "1"], hgb.predict_proba(frame)[0], strict=True))
    )
    assert out[0]["record"] is records[0]


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"id": "x", "a": 1.0}, "has no 'b'"),
        ({"id": "x", "a": "1", "b": 1.0}, "column 'a' must be a number"),
    ],
)
def test_a_table_sample_the_function_would_refuse_is_refused_at_publish(hgb, record, message):
    with pytest.raises(ModelError, match=message):
        expected_outputs([hgb], [record], "table", table_schema([hgb]), True)
