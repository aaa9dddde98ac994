"""Table models end to end: pipelines fitted on DataFrames, published with mlayer's library
(schema + samples), served by the real handler in a child Python whose path is Lambda's, with
the sklearn-pandas dependencies layer built from its recipe, and sinks on a moto server.

Each model is checked against the pipeline itself: the function's predictions for good records
(a null the model takes, an unseen category the encoder ignores) are exactly what the pipeline
predicts on the same DataFrame, and bad records are dead-lettered with the column named.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from function_support import HandlerProcess, InitError, kinesis_event
from handler_aws_support import aws_client, create_table_and_queue, shard_letters
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mlayer.model import manifest as mf
from mlayer.model.artifacts import inspect_pipeline

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
TABLE, DLQ = "tabular-predictions", "tabular-dead-letters"
GOOD = [
    {"id": "c1", "age": 42, "income": None, "city": "paris", "source": "web"},  # imputed null
    {"id": "c2", "age": 23.5, "income": 31.0, "city": "tokyo"},  # unseen: the encoder ignores it
    {"id": "c3", "age": 67, "income": 80.5, "city": "oslo"},
    {"id": "c4", "age": 35, "income": 52.25, "city": "rome", "note": "x"},
]
BAD = [
    ({"id": "b1", "income": 1.0, "city": "paris"}, "missing column: 'age'"),
    ({"id": "b2", "age": "forty", "income": 1.0, "city": "paris"}, "column 'age' must be a number"),
    ({"id": "b3", "age": 40, "income": 1.0, "city": 7}, "column 'city' must be a string"),
]


def training_frame(n: int = 300) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(7)
    df = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n).astype(float),
            "income": rng.normal(50, 15, n),
            "city": rng.choice(["paris", "rome", "oslo"], n),
        }
    )
    df.loc[::9, "income"] = np.nan
    y = np.where(df["age"] + df["income"].fillna(50) / 2 > 70, "yes", "no")
    return df, pd.Series(y)


def forest_pipeline():
    df, y = training_frame()
    ct = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), ["age", "income"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["city"]),
        ]
    )
    return make_pipeline(ct, RandomForestClassifier(n_estimators=20, random_state=0)).fit(df, y)


def hgb_pipeline():
    """No imputer: HistGradientBoosting takes NaN itself."""
    df, y = training_frame()
    ct = ColumnTransformer(
        [
            ("num", "passthrough", ["age", "income"]),
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), ["city"]),
        ]
    )
    return make_pipeline(ct, HistGradientBoostingClassifier(max_iter=30, random_state=0)).fit(df, y)


def publish_locally(model, folder: Path, samples: list[dict], tamper: bool = False) -> Path:
    """What publish-model puts in the model layer (mlayer/ under /opt), through the library."""
    user = folder / "user"
    user.mkdir(parents=True)
    joblib.dump(model, user / "model.joblib")
    (user / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in samples))
    pipeline = inspect_pipeline(user / "model.joblib", sample=user / "samples.jsonl")
    kept = [dict(s) for s in pipeline.samples]
    if tamper:  # what a layer that predicts differently would meet
        flipped = {"yes": "no", "no": "yes"}
        kept[1] = {**kept[1], "prediction": flipped[kept[1]["prediction"]]}
    manifest = mf.build_manifest(
        label="t1",
        artifacts=pipeline.artifacts,
        code=[],
        input_kind=pipeline.input_kind,
        outputs=pipeline.outputs,
        n_features=pipeline.n_features,
        versions={"python": "3", "scikit-learn": "1.7.2"},
        created_at="2026-11-30T07:00:00Z",
        created_by={"user": "t", "host": "h", "git_commit": None, "git_dirty": False},
        input_schema=pipeline.input_schema,
        samples=kept,
    )
    out = folder / "opt" / "mlayer"
    out.mkdir(parents=True)
    shutil.copyfile(user / "model.joblib", out / pipeline.artifacts[0].file)
    (out / "manifest.json").write_bytes(mf.to_json(manifest))
    return out


@pytest.fixture(scope="module")
def pandas_layer_build(tmp_path_factory):
    """layers/sklearn-pandas built by mlayer's pip builder (slimmed, compiled, cached)."""
    import platform

    from mlayer.build import BuildRequest, build_layer

    arch = "arm64" if platform.machine().lower() in ("aarch64", "arm64") else "x86_64"
    return build_layer(
        BuildRequest(
            requirements=REPO / "layers" / "sklearn-pandas" / "requirements.txt",
            runtime=f"python{sys.version_info[0]}.{sys.version_info[1]}",
            arch=arch,
            builder="pip",
            output=tmp_path_factory.mktemp("pandas-layer-out"),
            cache_dir=REPO / ".cache" / "mlayer",
        )
    )


@pytest.fixture(scope="module")
def pandas_layer(pandas_layer_build) -> Path:
    """A folder holding python/ (the unpacked layer, as /opt on Lambda). Read-only."""
    return pandas_layer_build.tree.parent


def test_the_sklearn_pandas_layer_fits_slimmed_and_says_what_it_shadows(pandas_layer_build):
    build = pandas_layer_build
    assert build.packages["pandas"] == "3.1.1" and "pandas" in build.modules
    assert not (build.tree / "pandas" / "tests").exists()  # the tests-folder step took it
    assert any(s.name == "tests folders" and s.status == "applied" for s in build.slim_steps)
    assert build.budget.fits and build.budget.room_left > 0
    shadows = {s.package: s for s in build.shadows}
    assert set(shadows) == {"python-dateutil", "six"}
    assert shadows["python-dateutil"].ok and build.shadow_warnings == []  # the pin holds


@pytest.fixture(scope="module")
def local_aws(module_aws):
    """The worker's embedded AWS with this module's results table and dead-letter queue."""
    create_table_and_queue(module_aws, TABLE, DLQ)
    return module_aws


def start(tmp_path, model_dir, pandas_layer, runtime_dir, local) -> HandlerProcess:
    return HandlerProcess(
        model_dir=model_dir,
        deps_layer=pandas_layer,
        runtime_dir=runtime_dir,
        workdir=tmp_path / "fn",
        env={
            **local.env,
            "MLAYER_OUTPUT_SINK": f"dynamodb://{TABLE}",
            "MLAYER_OUTPUT_DEAD_LETTER": f"sqs://{DLQ}",
        },
    )


def stored(local, shard: str) -> dict[str, dict]:
    items = aws_client(local, "dynamodb").scan(TableName=TABLE)["Items"]
    return {i["id"]["S"]: i for i in items if i["event_id"]["S"].startswith(shard + ":")}


def dead_letters(local, shard: str) -> dict[str, str]:
    """event_id -> reason of the dead letters of one shard (the queue is emptied)."""
    return {d["event_id"]: d["reason"] for d in shard_letters(local, DLQ, shard)}


@pytest.mark.parametrize("build", [forest_pipeline, hgb_pipeline], ids=["forest", "hgb"])
def test_a_dataframe_pipeline_serves_records_exactly_as_it_predicts(
    build, tmp_path, pandas_layer, runtime_dir, local_aws
):
    model = build()
    model_dir = publish_locally(model, tmp_path, GOOD[:3])
    manifest = json.loads((model_dir / "manifest.json").read_text())
    assert manifest["input_kind"] == "table" and len(manifest["samples"]) == 3
    assert [c["name"] for c in manifest["input_schema"]["columns"]] == ["age", "income", "city"]
    shard = f"shardId-{build.__name__}"
    proc = start(tmp_path, model_dir, pandas_layer, runtime_dir, local_aws)
    try:
        event = kinesis_event(GOOD + [record for record, _ in BAD], shard=shard)
        assert proc.invoke(event) == {"batchItemFailures": []}
        assert proc.invoke(event) == {"batchItemFailures": []}  # a replay: no duplicates
        info = proc.info(["pandas"])
        lines = proc.log_lines()
    finally:
        proc.close()

    assert info["imported"]["pandas"].startswith(str(pandas_layer))
    frame = pd.DataFrame([{k: r[k] for k in ("age", "income", "city")} for r in GOOD])
    expected = model.predict(frame).tolist()
    expected_proba = model.predict_proba(frame)
    items = stored(local_aws, shard)
    assert len(items) == len(GOOD)
    for i, record in enumerate(GOOD):
        item = items[record["id"]]
        assert item["prediction"]["S"] == expected[i]
        probas = {k: float(v["N"]) for k, v in item["probabilities"]["M"].items()}
        assert probas == pytest.approx(dict(zip(model.classes_, expected_proba[i], strict=True)))
    reasons = dead_letters(local_aws, shard)
    assert len(reasons) == len(BAD)
    for i, (_, reason) in enumerate(BAD):
        assert reason in reasons[f"{shard}:{len(GOOD) + i + 1}"]
    ignored = [line for line in lines if line.get("message", "").startswith("fields that are not")]
    assert ignored and ignored[0]["fields"] == {"source": 1, "note": 1}


def test_a_model_whose_samples_no_longer_reproduce_is_refused_at_init(
    tmp_path, pandas_layer, runtime_dir, local_aws
):
    model_dir = publish_locally(forest_pipeline(), tmp_path, GOOD[:3], tamper=True)
    with pytest.raises(InitError) as caught:
        start(tmp_path, model_dir, pandas_layer, runtime_dir, local_aws)
    message = caught.value.error["errorMessage"]
    assert "self-check: sample record 'c2' is not reproduced" in message
    assert "refusing to serve" in message


def test_a_table_model_without_pandas_fails_the_init_naming_the_layer(
    tmp_path, deps_layer, runtime_dir, local_aws
):
    model_dir = publish_locally(hgb_pipeline(), tmp_path, GOOD[:1])
    with pytest.raises(InitError, match="needs pandas in the dependencies layer"):
        start(tmp_path, model_dir, deps_layer, runtime_dir, local_aws)
