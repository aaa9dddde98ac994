"""mlayer.model.schema: the input kind auto picks (and why), and the table schema of fitted pipelines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from mlayer.errors import ModelError
from mlayer.model import manifest as mf
from mlayer.model.schema import choose_input, table_schema


def frame(n: int = 60) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(1)
    df = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n).astype(float),
            "income": rng.normal(50, 10, n),
            "city": rng.choice(["paris", "rome", "oslo"], n),
            "plan": rng.choice(["basic", "pro"], n),
            "active": rng.choice([True, False], n),
        }
    )
    return df, (df["age"].to_numpy() > 40).astype(int)


def columns(schema: dict) -> dict[str, dict]:
    return {c["name"]: c for c in schema["columns"]}


def test_a_column_transformer_pipeline_is_described_column_by_column():
    df, y = frame()
    ct = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), ["age", "income"]),
            ("city", OneHotEncoder(handle_unknown="ignore"), ["city"]),
            ("plan", OrdinalEncoder(), ["plan"]),
        ]
    )
    pipe = make_pipeline(ct, LogisticRegression()).fit(df[["age", "income", "city", "plan"]], y)

    schema = table_schema([pipe])

    assert [c["name"] for c in schema["columns"]] == ["age", "income", "city", "plan"]
    cols = columns(schema)
    assert cols["age"] == {
        "name": "age",
        "kind": "number",
        "nullable": True,  # the imputer takes it
        "categories": None,
        "handle_unknown": None,
    }
    assert cols["city"]["kind"] == "string"
    assert cols["city"]["categories"] == ["oslo", "paris", "rome"]
    assert cols["city"]["handle_unknown"] == "ignore" and cols["city"]["nullable"] is True
    # OrdinalEncoder's default raises on an unknown value, NaN included
    assert cols["plan"]["handle_unknown"] == "error" and cols["plan"]["nullable"] is False


def test_without_an_imputer_nullable_follows_the_estimator():
    df, y = frame()
    data = df[["age", "income"]]
    refuses = make_pipeline(StandardScaler(), LogisticRegression()).fit(data, y)
    takes = make_pipeline(StandardScaler(), HistGradientBoostingClassifier(max_iter=5)).fit(data, y)
    assert {c["nullable"] for c in table_schema([refuses])["columns"]} == {False}
    assert {c["nullable"] for c in table_schema([takes])["columns"]} == {True}


def test_an_estimator_fitted_directly_on_a_dataframe_is_a_table():
    df, y = frame()
    hgb = HistGradientBoostingClassifier(max_iter=5).fit(df[["age", "income"]], y)
    kind, why = choose_input(hgb, "sklearn.ensemble.HistGradientBoostingClassifier")
    assert kind == "table" and "HistGradientBoostingClassifier" in why and "2 named columns" in why
    assert [c["nullable"] for c in table_schema([hgb])["columns"]] == [True, True]


def test_boolean_categories_make_a_boolean_column_and_split_artifacts_count():
    df, y = frame()
    ct = ColumnTransformer([("b", OneHotEncoder(), ["active"])], remainder="passthrough")
    pre = ct.fit(df[["active", "age"]])
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(
        pre.transform(df[["active", "age"]]), y
    )
    cols = columns(table_schema([pre, forest]))  # preprocessor and model as two artifacts
    assert cols["active"]["kind"] == "boolean" and cols["active"]["categories"] == [False, True]
    assert cols["active"]["nullable"] is False  # handle_unknown="error" and no NaN when fitted
    assert cols["age"] == {**cols["age"], "kind": "number", "nullable": True}  # forest takes NaN


def test_a_missing_value_seen_by_the_encoder_makes_the_column_nullable():
    df, y = frame()
    df.loc[::5, "city"] = np.nan
    pipe = make_pipeline(
        ColumnTransformer([("c", OneHotEncoder(), ["city"])]), LogisticRegression()
    ).fit(df[["city"]], y)
    city = table_schema([pipe])["columns"][0]
    assert city["nullable"] is True and city["categories"] == ["oslo", "paris", "rome"]


@pytest.mark.parametrize(
    ("step", "cls", "kind"),
    [
        (
            CountVectorizer().fit(["ab cd", "ef"]),
            "sklearn.feature_extraction.text.CountVectorizer",
            "text",
        ),
        (
            StandardScaler().fit(np.ones((3, 2))),
            "sklearn.preprocessing._data.StandardScaler",
            "features",
        ),
    ],
)
def test_auto_says_which_kind_and_why(step, cls, kind):
    chosen, why = choose_input(step, cls)
    assert chosen == kind and why.startswith(f"{kind}: ")


def test_a_pipeline_fitted_on_arrays_has_no_table_schema():
    scaler = StandardScaler().fit(np.ones((3, 2)))
    with pytest.raises(ModelError, match="fitted on a pandas DataFrame"):
        table_schema([scaler])


def test_the_manifest_keeps_the_schema_and_refuses_a_table_without_one():
    from mlayer.publishing.models import LayerArtifact

    art = LayerArtifact("00-model.joblib", "model", "a" * 64, 1, "x.Y", "1.7.2", ())
    common = dict(
        label="v1",
        artifacts=[art],
        code=[],
        outputs={"predict": True},
        n_features=None,
        versions={},
        created_at="2026-11-24T07:00:00Z",
        created_by={},
    )
    schema = {"columns": [{"name": "a", "kind": "number", "nullable": False}]}
    sample = {"record": {"id": 1, "a": 2}, "prediction": 0}
    m = mf.build_manifest(input_kind="table", input_schema=schema, samples=[sample], **common)
    assert mf.from_json(mf.to_json(m))["input_schema"] == schema
    assert m["samples"] == [sample]
    with pytest.raises(ModelError, match="input schema"):
        mf.build_manifest(input_kind="table", **common)
    with pytest.raises(ModelError, match="input schema"):
        mf.build_manifest(input_kind="features", input_schema=schema, **common)


def test_a_column_the_pipeline_drops_is_not_asked_of_records():
    df, y = frame()
    data = df[["age", "city", "income"]]
    ct = ColumnTransformer([("num", StandardScaler(), [0, 2])], remainder="drop")
    pipe = make_pipeline(ct, LogisticRegression()).fit(data, y)
    assert [c["name"] for c in table_schema([pipe])["columns"]] == ["age", "income"]
    # and the pipeline predicts without it, as the function will ask it to
    assert len(pipe.predict(data[["age", "income"]])) == len(data)
