"""Issue 23 case 10 at the gate: every tree model behind preprocessing converts as sklearn computes.

GIVEN an imputer + scaler before a tree model (each of the forest, extra-trees, boosting and
single-tree estimators, classifier and regressor), WHEN it is converted, THEN its numeric input is
double and the gate passes; records generated around a scaled split (where a float32 graph
flips labels) get scikit-learn's labels; a tie that float32 sums break otherwise is refused as a
tie and accepted only with an explicit tolerance, which the report records.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("skl2onnx")
pytest.importorskip("onnxruntime")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import onnx_models  # noqa: E402

from mlayer.onnx.both_sides import function_onnx_module  # noqa: E402
from mlayer.onnx.convert import convert_pipeline  # noqa: E402
from mlayer.onnx.errors import OnnxParityError  # noqa: E402
from mlayer.onnx.parity import check_parity  # noqa: E402

ESTIMATORS = [
    ("ensemble", "RandomForestClassifier", {"n_estimators": 15}),
    ("ensemble", "RandomForestRegressor", {"n_estimators": 15}),
    ("ensemble", "ExtraTreesClassifier", {"n_estimators": 15}),
    ("ensemble", "ExtraTreesRegressor", {"n_estimators": 15}),
    ("ensemble", "GradientBoostingClassifier", {"n_estimators": 15}),
    ("ensemble", "GradientBoostingRegressor", {"n_estimators": 15}),
    ("tree", "DecisionTreeClassifier", {}),
    ("tree", "DecisionTreeRegressor", {}),
]


def _data(n: int = 500):
    import numpy as np

    rng = np.random.default_rng(0)
    x = np.round(rng.normal(3.0, 7.0, size=(n, 3)), 3)
    x[rng.random((n, 3)) < 0.1] = np.nan
    filled = np.nan_to_num(x)
    return x, (filled[:, 0] > 1.0).astype(int), filled[:, 0] * 2.0 + filled[:, 1]


def _scaled(module: str, name: str, params: dict, x, y):
    import importlib

    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pre = make_pipeline(SimpleImputer(), StandardScaler()).fit(x)
    cls = getattr(importlib.import_module(f"sklearn.{module}"), name)
    return [pre, cls(random_state=0, **params).fit(pre.transform(x), y)]


def _records(x) -> list[dict]:
    return [{"id": f"r{i}", "features": [float(v) for v in row]} for i, row in enumerate(x)]


@pytest.mark.parametrize(("module", "name", "params"), ESTIMATORS, ids=[e[1] for e in ESTIMATORS])
def test_each_tree_model_behind_an_imputer_and_scaler_passes_with_double_inputs(
    module, name, params
):
    x, labels, values = _data()
    steps = _scaled(module, name, params, x, values if name.endswith("Regressor") else labels)
    converted = convert_pipeline(steps, "features")
    assert [(i.name, i.elem) for i in converted.inputs] == [("features", "double")]
    records = _records(x[:300])
    for record in records:  # NaN is no JSON number: missing values come as the imputer's NaN
        record["features"] = [v if v == v else 0.0 for v in record["features"]]
    report = check_parity(steps, converted, records)
    assert report.records == 300 and report.differing == 0 and report.label_disagreements == 0


@pytest.fixture(scope="module")
def edge_model(tmp_path_factory):
    """The one-split tree behind a scaler, and the function's predictor of its double graph."""
    steps, _, _ = onnx_models.float32_sensitive_tree()
    converted = convert_pipeline(steps, "features")
    folder = onnx_models.write_onnx_layer(
        tmp_path_factory.mktemp("edge"), converted, input_kind="features"
    )
    scaler, tree = steps
    split = tree.tree_.threshold[0] * scaler.scale_[0] + scaler.mean_[0]
    return steps, function_onnx_module().load_onnx_model(folder), float(split)


@settings(max_examples=40, deadline=None)
@given(offsets=st.lists(st.integers(-10_000, 10_000), min_size=1, max_size=50))
def test_records_around_a_scaled_split_get_sklearns_labels(edge_model, offsets):
    scaler, tree = edge_model[0]
    model, split = edge_model[1], edge_model[2]
    rows = [[split + k * 1e-12] for k in offsets]  # float64 steps across the split
    labels, _ = model.predict(rows)
    assert labels == tree.predict(scaler.transform(rows)).tolist()


def test_a_tie_broken_otherwise_is_refused_as_a_tie_and_accepted_with_a_tolerance():
    x, labels, _ = _data()
    steps = _scaled("ensemble", "ExtraTreesClassifier", {"n_estimators": 20}, x, labels)
    x = x[:300]
    records = _records(x)
    for record in records:
        record["features"] = [v if v == v else 0.0 for v in record["features"]]
    converted = convert_pipeline(steps, "features")
    with pytest.raises(OnnxParityError) as caught:
        check_parity(steps, converted, records)
    err = caught.value
    assert err.cause.startswith("a tie") and "labels differ" in err.message
    assert "--parity-tolerance" in err.hint
    tie = err.differences[0]["sklearn"]["probabilities"]
    assert sorted(tie.values()) == [0.5, 0.5]  # 10 of 20 trees each way
    report = check_parity(steps, converted, records, tolerance=1e-6)
    assert report.accepted_tolerance == 1e-6 and report.label_disagreements >= 1
    assert report.differing == report.label_disagreements and report.max_proba_diff <= 1e-6
    assert report.to_json()["parity_tolerance"] == 1e-6
    with pytest.raises(OnnxParityError):
        check_parity(steps, converted, records, tolerance=1e-9)


def test_preprocessing_that_cannot_run_in_double_keeps_the_float_graph():
    """PolynomialFeatures has no double graph here: the conversion falls back to float32 inputs
    (the gate judges that graph as before) instead of refusing the pipeline."""
    import numpy as np
    from sklearn.preprocessing import PolynomialFeatures
    from sklearn.tree import DecisionTreeClassifier

    x, labels, _ = _data()
    x = np.nan_to_num(x)
    poly = PolynomialFeatures().fit(x)
    steps = [poly, DecisionTreeClassifier(random_state=0).fit(poly.transform(x), labels)]
    converted = convert_pipeline(steps, "features")
    assert [(i.name, i.elem) for i in converted.inputs] == [("features", "float")]
    report = check_parity(steps, converted, _records(x[:200]))
    assert report.differing == 0
