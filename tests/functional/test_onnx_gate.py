"""Issue 15's conversion and parity gate on real fitted pipelines, with real skl2onnx/onnxruntime.

GIVEN a pipeline as mlayer loads it (artifacts in order) and sample records, WHEN it is converted
and checked, THEN it passes with onnxruntime's predictions equal to scikit-learn's, or it is
refused naming the cause (tokenizer, float32 thresholds, no converter).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("skl2onnx")
pytest.importorskip("onnxruntime")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import onnx_models  # noqa: E402

from mlayer.errors import ModelError  # noqa: E402
from mlayer.onnx.both_sides import function_onnx_module, sklearn_input  # noqa: E402
from mlayer.onnx.convert import convert_pipeline  # noqa: E402
from mlayer.onnx.errors import OnnxConversionError, OnnxParityError  # noqa: E402
from mlayer.onnx.parity import PROBA_ABS_TOL, check_parity  # noqa: E402
from mlayer.onnx.samples import record_rows  # noqa: E402


def _served(converted, rows, tmp_path):
    """What the function's ONNX predictor answers for ``rows``, from a written model layer."""
    folder = onnx_models.write_onnx_layer(tmp_path, converted, input_kind=converted.input_kind)
    model = function_onnx_module().load_onnx_model(folder)
    return model.predict(rows)


def test_table_forest_converts_to_one_input_per_column_and_passes(tmp_path):
    steps, records, columns = onnx_models.table_forest()
    converted = convert_pipeline(steps, "table", columns=columns)
    assert [(i.name, i.elem) for i in converted.inputs] == [  # double: trees follow (issue 23)
        ("age", "double"),
        ("income", "double"),
        ("city", "string"),
    ]
    assert converted.classes == ["no", "yes"] and converted.proba_output == "probabilities"
    report = check_parity(steps, converted, records, columns=columns)
    assert report.records == 100 and report.generated == 96
    assert report.max_proba_diff <= PROBA_ABS_TOL
    rows = record_rows(records, "table", columns)
    labels, probas = _served(converted, rows, tmp_path)
    frame = sklearn_input(rows, "table", columns)
    assert labels == steps[0].predict(frame).tolist()
    expected = steps[0].predict_proba(frame)
    for got, want in zip(probas, expected, strict=True):
        assert abs(got["yes"] - want[1]) <= PROBA_ABS_TOL and set(got) == {"no", "yes"}


def test_ascii_text_pipeline_of_three_artifacts_passes_with_sklearns_labels(tmp_path):
    steps, records, _ = onnx_models.text_ascii()
    converted = convert_pipeline(steps, "text")
    assert [(i.name, i.elem) for i in converted.inputs] == [("text", "string")]
    report = check_parity(steps, converted, records)
    assert report.records == 100 and report.sklearn_ms > 0 and report.onnx_ms > 0
    texts = [r["text"] for r in records] + ["WIN a FREE prize!!", "", "see you at lunch"]
    labels, probas = _served(converted, texts, tmp_path)
    x = texts
    for step in steps[:-1]:
        x = step.transform(x)
    assert labels == steps[-1].predict(x).tolist()
    assert all(
        abs(p["spam"] - q[1]) <= PROBA_ABS_TOL
        for p, q in zip(probas, steps[-1].predict_proba(x), strict=True)
    )


def test_features_forest_with_integer_classes_serves_ints(tmp_path):
    steps, records, _ = onnx_models.features_forest()
    converted = convert_pipeline(steps, "features")
    assert converted.inputs[0].width == 4 and converted.classes == [0, 1]
    check_parity(steps, converted, records)
    rows = [r["features"] for r in records]
    labels, probas = _served(converted, rows, tmp_path)
    assert labels == steps[1].predict(steps[0].transform(rows)).tolist()
    assert all(type(label) is int for label in labels) and set(probas[0]) == {"0", "1"}


def test_regressor_values_pass_within_the_relative_tolerance(tmp_path):
    import numpy as np
    from sklearn.ensemble import RandomForestRegressor

    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 3))
    forest = RandomForestRegressor(n_estimators=10, random_state=0).fit(x, x[:, 0] * 1000.0)
    converted = convert_pipeline([forest], "features")
    assert converted.classes is None and converted.proba_output is None
    report = check_parity([forest], converted, [{"features": row} for row in x[:5].tolist()])
    assert report.max_value_diff is not None and report.max_proba_diff is None
    labels, probas = _served(converted, x[:5].tolist(), tmp_path)
    assert probas is None
    assert np.allclose(labels, forest.predict(x[:5]), rtol=1e-5, atol=1e-4)


def test_non_ascii_vocabulary_is_refused_as_a_tokenizer_problem():
    steps, records, _ = onnx_models.text_non_ascii()
    converted = convert_pipeline(steps, "text")
    with pytest.raises(OnnxParityError) as caught:
        check_parity(steps, converted, records)
    err = caught.value
    assert err.cause.startswith("tokenizer")
    assert "--format sklearn" in err.hint and "nothing was published" in err.message
    first = err.differences[0]
    assert not first["input"].isascii()
    assert first["sklearn"] != first["onnx"] and set(first) == {"id", "input", "sklearn", "onnx"}
    assert first["id"] in err.message and first["input"] in err.message


def test_records_on_a_scaled_split_get_sklearns_labels_from_the_double_graph():
    """Issue 23: the scaler runs in double and one Cast precedes the tree, as in scikit-learn,
    so records within 1e-10 of the split (which flipped in a float32 graph) all agree."""
    steps, records, _ = onnx_models.float32_sensitive_tree()
    x = steps[0].transform([r["features"] for r in records])
    assert len({int(p) for p in steps[1].predict(x)}) == 2
    converted = convert_pipeline(steps, "features")
    assert [(i.name, i.elem) for i in converted.inputs] == [("features", "double")]
    report = check_parity(steps, converted, records)
    assert report.records == len(records) and report.differing == 0
    assert report.label_disagreements == 0 and report.max_proba_diff == 0.0
    served = [s["prediction"] for s in report.samples]
    assert served == steps[1].predict(x).tolist()


def test_estimator_without_a_converter_is_refused_by_name():
    steps, records, _ = onnx_models.unconvertible()
    with pytest.raises(OnnxConversionError) as caught:
        convert_pipeline(steps, "features")
    err = caught.value
    assert err.estimator == "sklearn.preprocessing._polynomial.SplineTransformer"
    assert "SplineTransformer" in err.message and "--format sklearn" in err.hint
    assert isinstance(err, ModelError) and err.exit_code == 1


def test_converter_failure_names_the_estimator_that_failed():
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    model = HistGradientBoostingClassifier(max_iter=5).fit(x, (x[:, 0] > 0).astype(int))
    try:
        converted = convert_pipeline([model], "features")
    except OnnxConversionError as err:  # skl2onnx 1.20 with numpy 2: a converter bug
        assert "HistGradientBoostingClassifier" in err.estimator
        assert err.message.startswith("skl2onnx failed to convert")
    else:  # a fixed converter: then the gate must hold
        check_parity([model], converted, [{"features": r} for r in x[:5].tolist()])


def test_record_input_kind_cannot_be_onnx():
    steps, _, _ = onnx_models.features_forest()
    with pytest.raises(OnnxConversionError, match="input kind 'record'"):
        convert_pipeline(steps, "record")


def test_gate_needs_samples():
    from mlayer.errors import UsageError

    steps, _, _ = onnx_models.features_forest()
    converted = convert_pipeline(steps, "features")
    with pytest.raises(UsageError, match="--sample"):
        check_parity(steps, converted, [])


def test_table_schema_of_the_manifest_drives_conversion_and_the_functions_rows(tmp_path):
    """H5's input_schema (mlayer.model.schema) in, tabular.TableSchema's row tuples (NaN for null)."""
    from mlayer.model.schema import table_schema

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "function"))
    from mlayer_function.tabular import TableSchema

    steps, records, _ = onnx_models.table_forest()
    schema = table_schema(steps)
    converted = convert_pipeline(steps, "table", columns=schema)
    assert [i.name for i in converted.inputs] == ["age", "income", "city"]
    report = check_parity(steps, converted, records, columns=schema)
    assert [s["record"] for s in report.samples] == records
    rows = [TableSchema.from_manifest(schema).row(r) for r in records]
    labels, probas = _served(converted, rows, tmp_path)
    assert [(s["prediction"], s["probabilities"]) for s in report.samples] == list(
        zip(labels, probas, strict=True)
    )
    frame = sklearn_input(record_rows(records, "table", schema), "table", schema)
    assert labels == steps[0].predict(frame).tolist()


def test_prepare_onnx_gives_publish_the_artifact_manifest_keys_and_served_samples():
    import hashlib

    from mlayer.onnx.errors import OnnxUnavailableError
    from mlayer.onnx.publishing import prepare_onnx

    steps, records, _ = onnx_models.features_forest()
    with pytest.raises(OnnxUnavailableError, match="python3.11"):
        prepare_onnx(steps, "features", records, runtime="python3.11")
    done = prepare_onnx(steps, "features", records * 3, runtime="python3.12")
    assert done.artifact.file == "model.onnx" and done.artifact.role == "model"
    assert done.artifact.sha256 == hashlib.sha256(done.onnx_bytes).hexdigest()
    assert done.artifact.cls.endswith("RandomForestClassifier")
    assert done.artifact.sklearn_version is None
    assert done.zip_entries() == [("mlayer/model.onnx", done.onnx_bytes)]
    fields = done.manifest_fields()
    opset = done.converted.opsets["ai.onnx"]
    assert fields["format"] == "onnx" and opset in (21, 22)
    assert fields["onnx"]["min_onnxruntime"] == {21: "1.18", 22: "1.20"}[opset]
    assert fields["onnx"]["parity"]["records"] == 100 and fields["onnx"]["parity"]["samples"] == 30
    assert len(done.samples) == 20 and done.samples[0]["record"] == records[0]
    assert set(done.samples[0]) == {"record", "prediction", "probabilities"}


def test_a_graph_that_computes_otherwise_is_refused_as_a_conversion_problem():
    """TF-IDF with sublinear_tf: skl2onnx 1.20's graph differs on texts with repeated words.

    The samples have none, so only the generated records (which repeat words) catch it.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    texts = onnx_models.SPAM + onnx_models.HAM
    vectorizer = TfidfVectorizer(sublinear_tf=True).fit(texts)
    model = LogisticRegression().fit(vectorizer.transform(texts), ["s"] * 4 + ["h"] * 4)
    converted = convert_pipeline([vectorizer, model], "text")
    records = [{"id": f"t{i}", "text": t} for i, t in enumerate(texts)]
    try:
        check_parity([vectorizer, model], converted, records)
    except OnnxParityError as err:
        assert err.cause.startswith("conversion: outputs differ by up to")
        assert "TfidfVectorizer" in err.cause and "LogisticRegression" in err.cause
        assert all(d["id"].startswith("generated-") for d in err.differences)
    else:  # a fixed converter passes the same gate
        assert converted.versions["skl2onnx"] != "1.20.0"
