from __future__ import annotations

import json

import pytest

from mlayer.errors import ModelError
from mlayer.model import manifest as mf
from mlayer.publishing.models import LayerArtifact

LR = "sklearn.linear_model._logistic.LogisticRegression"
LOCK = {
    "packages": {"scikit-learn": "1.7.2", "numpy": "2.2.6"},
    "modules": ["sklearn", "numpy", "joblib", "scipy"],
}


def art(
    file="02-model.joblib",
    role="model",
    sha="a" * 64,
    version="1.7.2",
    globals_=(LR, "numpy.dtype"),
):
    return LayerArtifact(file, role, sha, 10, LR, version, tuple(globals_))


def build(**kw):
    args = dict(
        label="v1",
        artifacts=[art("00-cv.joblib", "preprocessor", "b" * 64), art()],
        code=[],
        input_kind="text",
        outputs={"predict": True, "predict_proba": True, "classes": ["ham", "spam"]},
        n_features=None,
        versions={"python": "3.11.7", "scikit-learn": "1.7.2", "numpy": "2.2.6"},
        created_at="2026-11-24T07:00:00Z",
        created_by={"user": "ana", "host": "h", "git_commit": None, "git_dirty": None},
    )
    args.update(kw)
    return mf.build_manifest(**args)


def test_manifest_has_every_field_of_the_format():
    m = build()
    assert set(m) == set(mf.REQUIRED_KEYS) | set(mf.OPTIONAL_KEYS)
    assert m["input_schema"] is None and m["samples"] == []
    assert m["artifacts"][0] == {
        "file": "00-cv.joblib",
        "role": "preprocessor",
        "sha256": "b" * 64,
        "size": 10,
        "class": LR,
        "sklearn_version": "1.7.2",
    }
    assert m["globals"] == sorted({LR, "numpy.dtype"})
    assert m["outputs"]["classes"] == ["ham", "spam"]


def test_json_round_trip_is_stable():
    m = build()
    data = mf.to_json(m)
    assert mf.from_json(data) == m and mf.to_json(mf.from_json(data)) == data
    assert data.endswith(b"\n") and json.loads(data)["schema_version"] == 1


def test_from_json_refuses_unknown_schema_and_missing_keys():
    with pytest.raises(ModelError, match="schema"):
        mf.from_json(json.dumps({"schema_version": 2}))
    with pytest.raises(ModelError, match="lacks"):
        mf.from_json(json.dumps({"schema_version": 1}))
    with pytest.raises(ModelError, match="not JSON"):
        mf.from_json("{")


def test_content_sha_ignores_label_and_time_but_not_order_or_code():
    a = build()["content_sha256"]
    assert build(label="other", created_at="2030-01-01T00:00:00Z")["content_sha256"] == a
    swapped = build(artifacts=[art("00-cv.joblib", "preprocessor", "a" * 64), art(sha="b" * 64)])
    assert swapped["content_sha256"] != a
    with_code = build(code=[{"file": "python/m.py", "sha256": "c" * 64, "size": 3}])
    assert with_code["content_sha256"] != a


def test_pipeline_shape_is_enforced():
    with pytest.raises(ModelError):
        build(artifacts=[])
    with pytest.raises(ModelError, match="preprocessors then one model"):
        build(artifacts=[art(), art()])
    with pytest.raises(ModelError, match="input kind"):
        build(input_kind="images")


def test_numpy_classes_become_json_values():
    import numpy as np

    m = build(outputs={"predict": True, "classes": np.array([0, 1])})
    assert m["outputs"]["classes"] == [0, 1] and isinstance(m["outputs"]["classes"][0], int)
    assert build(outputs={"predict": True, "classes": None})["outputs"]["classes"] is None


def test_description_carries_label_and_short_sha_within_256():
    sha = "0123456789abcdef" * 4
    assert mf.layer_description("v3", sha) == "v3 sha:0123456789ab"
    long = mf.layer_description("x" * 400, sha)
    assert len(long) == 256 and mf.description_sha(long) == "0123456789ab"
    assert mf.description_sha("hand made") is None


def test_compatible_with_the_lock():
    assert mf.compatibility_problems(build(), LOCK) == ([], [])


def test_other_sklearn_minor_names_both_versions():
    m = build(artifacts=[art(version="1.5.2")])
    hard, soft = mf.compatibility_problems(m, LOCK)
    assert hard == [] and "1.5.2" in soft[0] and "1.7.2" in soft[0]
    assert mf.compatibility_problems(build(artifacts=[art(version="1.7.0")]), LOCK) == ([], [])


def test_numpy_major_mismatch_is_reported():
    m = build(versions={"numpy": "1.26.4"})
    assert any("numpy" in p for p in mf.compatibility_problems(m, LOCK)[1])


def test_main_and_missing_modules_are_hard_problems():
    m = build(
        artifacts=[
            art(globals_=("__main__.MyScaler", "xgboost.XGBClassifier", "collections.OrderedDict"))
        ]
    )
    hard, _ = mf.compatibility_problems(m, LOCK)
    assert len(hard) == 2 and "__main__" in hard[0] and "xgboost" in hard[1]


def test_code_modules_satisfy_globals():
    m = build(
        artifacts=[art(globals_=("my_steps.Upper",))],
        code=[{"file": "python/my_steps.py", "sha256": "c" * 64, "size": 1}],
    )
    assert mf.compatibility_problems(m, LOCK)[0] == []


def test_without_a_lock_only_main_is_checked():
    m = build(artifacts=[art(globals_=("xgboost.X", "__main__.F"))])
    hard, soft = mf.compatibility_problems(m, None)
    assert len(hard) == 1 and soft == []


def test_artifact_file_names_keep_order():
    assert mf.artifact_file_name(0, "CountVec.joblib", "preprocessor") == "00-countvec.joblib"
    assert mf.artifact_file_name(2, "anything.pkl", "model") == "02-model.joblib"
    assert mf.artifact_file_name(1, "we ird!.joblib", "preprocessor") == "01-we-ird-.joblib"


def test_a_table_model_needs_pandas_in_the_layer():
    schema = {"columns": [{"name": "a", "kind": "number", "nullable": True}]}
    m = build(input_kind="table", input_schema=schema)
    hard, _ = mf.compatibility_problems(m, LOCK)
    assert any("needs pandas" in p and "sklearn-pandas" in p for p in hard)
    with_pandas = {**LOCK, "modules": [*LOCK["modules"], "pandas"]}
    assert not any("pandas" in p for p in mf.compatibility_problems(m, with_pandas)[0])
    assert not any("pandas" in p for p in mf.compatibility_problems(m, None)[0])
