"""Table columns scikit-learn does not type, through publish-model and the real handler
(issue 23, cases 1 to 3).

GIVEN a pipeline fitted on a DataFrame with a bool column, a datetime64 column or a feature
column named ``id``, WHEN it is published through the CLI with its own training rows as
``--sample`` (against the embedded AWS) and the real handler cold-starts on the published layer
(a child Python with Lambda's path and the sklearn-pandas layer), THEN publish says what it
inferred, the self-check passes, records are predicted exactly as the pipeline predicts the
training frame's dtypes, and bad values are dead letters naming the column.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import test_publish_table  # noqa: E402
from function_support import HandlerProcess, kinesis_event  # noqa: E402
from publish_support import MODEL, create_function, publish_deps, run_cli  # noqa: E402
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import OneHotEncoder, StandardScaler  # noqa: E402

pytestmark = pytest.mark.slow
pandas_layer = test_publish_table.pandas_layer  # the sklearn-pandas layer fixture, built once
MODULES, unpack_live = test_publish_table.MODULES, test_publish_table.unpack_live
SHARD = "shardId-000000000000"


def fit(frame: pd.DataFrame, y, numbers: list[str], passthrough: list[str], dates=()):
    """Scaled numbers, raw columns, one-hot cities; a datetime64 column scaled on its own (numpy
    has no common type for datetime64 and float64)."""
    ct = ColumnTransformer(
        [
            ("num", StandardScaler(), numbers),
            ("raw", "passthrough", passthrough),
            *[(f"date-{d}", StandardScaler(), [d]) for d in dates],
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["city"]),
        ]
    )
    return make_pipeline(ct, RandomForestClassifier(n_estimators=25, random_state=0)).fit(frame, y)


def base_frame(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    return pd.DataFrame(
        {"age": rng.integers(18, 80, n).astype(float), "city": rng.choice(["paris", "rome"], n)}
    )


def as_records(frame: pd.DataFrame, render=lambda name, v: v) -> list[dict]:
    """Training rows as the stream carries them (numpy scalars as JSON values)."""
    out = []
    for i, row in enumerate(frame.to_dict("records")):
        record = {"id": f"s{i}"}
        for name, value in row.items():
            value = value.item() if hasattr(value, "item") else value
            record[name] = render(name, value)
        out.append(record)
    return out


def column_of(doc: dict, name: str) -> dict:
    return next(c for c in doc["manifest"]["input_schema"]["columns"] if c["name"] == name)


@pytest.fixture
def deployed(gw):
    create_function(gw, [publish_deps(gw, modules=MODULES)])


def publish(tmp_path: Path, model, records: list[dict]) -> dict:
    joblib.dump(model, tmp_path / "model.joblib")
    (tmp_path / "sample.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    result, doc = run_cli(
        "publish-model",
        str(tmp_path / "model.joblib"),
        "--sample",
        str(tmp_path / "sample.jsonl"),
        "--yes",
    )
    assert result.exit_code == 0, result.output
    return doc


def serve(gw, tmp_path, layer, runtime_dir, records: list[dict]) -> tuple[dict, dict]:
    """(id -> result line, position -> dead-letter reason) of one Kinesis batch."""
    proc = HandlerProcess(  # raises InitError if the self-check refuses the samples
        model_dir=unpack_live(gw, tmp_path / "opt"),
        deps_layer=layer,
        runtime_dir=runtime_dir,
        workdir=tmp_path / "run",
        env={"MLAYER_OUTPUT_SINK": "stdout://"},
    )
    try:
        assert proc.invoke(kinesis_event(records)) == {"batchItemFailures": []}
    finally:
        proc.close()
    lines = proc.log_lines()
    results = {line["id"]: line for line in lines if "prediction" in line}
    letters = {
        int(line["event_id"].split(":")[1]) - 1: line["reason"]
        for line in lines
        if "reason" in line
    }
    return results, letters


def test_a_bool_column_takes_true_and_false_as_the_training_frame_held_them(
    gw, deployed, tmp_path, pandas_layer, runtime_dir
):
    frame = base_frame()
    frame["is active"] = np.random.default_rng(2).random(len(frame)) < 0.5
    y = np.where(frame["is active"] ^ (frame.age > 50), "yes", "no")
    model = fit(frame, y, ["age"], ["is active"])
    doc = publish(tmp_path, model, as_records(frame.head(20)))
    column = column_of(doc, "is active")
    assert column["kind"] == "boolean"
    assert any("Column 'is active': boolean" in w for w in doc["warnings"])

    good = [
        {"id": f"g{i}", "age": a, "is active": f, "city": c}
        for i, (a, f, c) in enumerate(
            [(30, True, "paris"), (65, False, "rome"), (41, True, "x"), (52, None, "rome")]
        )
    ]
    bad = [{"id": "b1", "age": 30, "is active": 1, "city": "paris"}]
    results, letters = serve(gw, tmp_path, pandas_layer, runtime_dir, good + bad)
    flags = np.empty(len(good), dtype=object)  # a null: NaN in an object column, as pandas holds it
    flags[:] = [np.nan if r["is active"] is None else r["is active"] for r in good]
    truth = pd.DataFrame({"age": [r["age"] for r in good], "city": [r["city"] for r in good]})
    truth["is active"] = flags
    expected = model.predict(truth[frame.columns])
    assert [results[r["id"]]["prediction"] for r in good] == expected.tolist()
    assert letters == {4: "wrong type: column 'is active' must be true or false, got int"}


def test_a_column_named_id_is_the_record_id_and_the_feature_as_publish_says(
    gw, deployed, tmp_path, pandas_layer, runtime_dir
):
    frame = base_frame()
    frame.insert(0, "id", np.arange(len(frame), dtype=float) * 3.0)
    y = np.where((frame.age > 45) | (frame["id"] > 600), "yes", "no")
    model = fit(frame, y, ["id", "age"], [])
    records = [{**r, "id": int(r["id"])} for r in as_records(frame.head(20))]
    doc = publish(tmp_path, model, records)
    assert any("Column 'id' is one of the model's features" in w for w in doc["warnings"])
    assert any("ids must be integers" in w for w in doc["warnings"])

    good = [{"id": i, "age": a, "city": "paris"} for i, a in ((5, 30.0), (800, 70.0), (301, 44.0))]
    bad = [{"id": "order-17", "age": 30.0, "city": "paris"}]
    results, letters = serve(gw, tmp_path, pandas_layer, runtime_dir, good + bad)
    expected = model.predict(pd.DataFrame([{k: r[k] for k in frame.columns} for r in good]))
    assert [results[r["id"]]["prediction"] for r in good] == expected.tolist()
    assert letters == {3: "wrong type: column 'id' must be a number, got str"}


@pytest.mark.parametrize("unit", ["us", "ns"])
def test_a_datetime_column_takes_iso_8601_strings_in_the_unit_it_was_fitted_on(
    gw, deployed, tmp_path, pandas_layer, runtime_dir, unit
):
    frame = base_frame()
    days = np.random.default_rng(4).integers(0, 1500, len(frame))
    start = pd.Timestamp("2020-01-01").as_unit(unit)
    frame["signup"] = (start + pd.to_timedelta(days, unit="D")).as_unit(unit)
    y = np.where((frame.signup > "2022-06-01") ^ (frame.age > 50), "yes", "no")
    model = fit(frame, y, ["age"], [], dates=["signup"])
    iso = as_records(frame.head(20), lambda n, v: v.isoformat() if n == "signup" else v)
    doc = publish(tmp_path, model, iso)
    column = column_of(doc, "signup")
    assert column == {**column, "kind": "datetime", "unit": unit, "timezone": None}
    assert any("Column 'signup': datetime" in w and f"[{unit}]" in w for w in doc["warnings"])

    stamps = ["2021-03-15", "2023-11-02T08:30:00", "2022-06-01 23:59:59.5"]
    good = [
        {"id": f"g{i}", "age": 40.0 + i, "city": "rome", "signup": s} for i, s in enumerate(stamps)
    ]
    bad = [
        ("15/03/2024", "bad date-time: column 'signup': '15/03/2024' is not an ISO-8601"),
        ("2024-02-30", "bad date-time: column 'signup': '2024-02-30' has no such day"),
        ("2024-03-15T10:00:00+02:00", "carries a UTC offset"),
        (1710460800, "wrong type: column 'signup' must be an ISO-8601 date-time string, got int"),
    ]
    records = good + [
        {"id": f"b{i}", "age": 40.0, "city": "rome", "signup": value}
        for i, (value, _) in enumerate(bad)
    ]
    results, letters = serve(gw, tmp_path, pandas_layer, runtime_dir, records)
    truth = pd.DataFrame([{k: r[k] for k in frame.columns} for r in good])
    truth["signup"] = pd.to_datetime(truth["signup"], format="ISO8601").dt.as_unit(unit)
    assert [results[r["id"]]["prediction"] for r in good] == model.predict(truth).tolist()
    assert sorted(letters) == [3, 4, 5, 6]
    for i, (_, reason) in enumerate(bad):
        assert reason in letters[3 + i]


def test_a_bool_column_named_with_a_space_is_published_as_onnx_and_served(
    gw, tmp_path, runtime_dir, tmp_path_factory
):
    """skl2onnx names the graph input 'is_active': the manifest feeds it from 'is active'."""
    pytest.importorskip("skl2onnx")
    from test_class_keys import _onnx_layer
    from test_publish_onnx import ONNX, publish_lock

    create_function(gw, [publish_lock(gw, ONNX, "onnx deps")])
    frame = base_frame()
    frame["is active"] = np.random.default_rng(2).random(len(frame)) < 0.5
    y = np.where(frame["is active"] ^ (frame.age > 50), "yes", "no")
    ct = ColumnTransformer(
        [
            ("num", SimpleImputer(), ["age"]),  # no scaler before trees: float32 (case 10)
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["is active", "city"]),
        ]
    )
    model = make_pipeline(ct, RandomForestClassifier(n_estimators=25, max_depth=5, random_state=0))
    model.fit(frame, y)
    joblib.dump(model, tmp_path / "model.joblib")
    records = as_records(frame.head(40))
    (tmp_path / "sample.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    args = [
        "publish-model",
        str(tmp_path / "model.joblib"),
        "--sample",
        str(tmp_path / "sample.jsonl"),
    ]
    result, doc = run_cli(*args, "--format", "onnx", "--yes")
    assert result.exit_code == 0, result.output
    inputs = {i["column"]: i["name"] for i in doc["manifest"]["onnx"]["inputs"]}
    assert inputs["is active"] == "is_active" and column_of(doc, "is active")["kind"] == "boolean"
    good = [
        {"id": f"g{i}", "age": a, "is active": f, "city": c}
        for i, (a, f, c) in enumerate([(30, True, "paris"), (65, False, "rome"), (41, True, "x")])
    ]
    results, letters = serve(gw, tmp_path, _onnx_layer(tmp_path_factory), runtime_dir, good)
    expected = model.predict(pd.DataFrame([{k: r[k] for k in frame.columns} for r in good]))
    assert [results[r["id"]]["prediction"] for r in good] == expected.tolist() and letters == {}


def test_a_datetime_column_is_refused_for_onnx_naming_it_and_nothing_is_published(gw, tmp_path):
    pytest.importorskip("skl2onnx")
    from test_publish_onnx import ONNX, publish_lock

    create_function(gw, [publish_lock(gw, ONNX, "onnx deps")])
    frame = base_frame()
    frame["signup"] = pd.Timestamp("2021-01-01") + pd.to_timedelta(np.arange(len(frame)), "D")
    model = fit(frame, np.arange(len(frame)) % 2, ["age"], [], dates=["signup"])
    joblib.dump(model, tmp_path / "model.joblib")
    records = as_records(frame.head(20), lambda n, v: v.isoformat() if n == "signup" else v)
    (tmp_path / "sample.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    args = [
        "publish-model",
        str(tmp_path / "model.joblib"),
        "--sample",
        str(tmp_path / "sample.jsonl"),
    ]
    result, doc = run_cli(*args, "--format", "onnx", "--yes")
    assert result.exit_code == 1 and doc["error"] == "OnnxConversionError"
    assert "column 'signup' is a datetime" in doc["message"] and "--format sklearn" in doc["hint"]
    assert gw.list_layer_versions(MODEL) == []
