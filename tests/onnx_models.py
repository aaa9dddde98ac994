"""Real fitted pipelines for the ONNX tests, each with sample records in the stream's format.

Each builder returns ``(steps, records, columns)``: the artifacts in pipeline order (as mlayer
loads them), sample records (``{"id", ...}``), and the table columns (or ``[]``).
"""

from __future__ import annotations

import json
from pathlib import Path

SPAM = ["win money now", "free prize claim now", "cheap pills offer", "you won a free cruise"]
HAM = ["lunch at noon?", "see you at the meeting", "the report is attached", "call me tonight"]
SPAM_FR = ["gagnez un prix gratuit", "crédit immédiat offert", "vous avez gagné une croisière"]
HAM_FR = ["réunion à midi", "le déjeuner est prêt", "à ce soir chez Zoé"]
TABLE_COLUMNS = [("age", "number"), ("income", "number"), ("city", "string")]


def _text_pipeline(texts: list[str], labels: list[str]) -> list:
    from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer
    from sklearn.linear_model import LogisticRegression

    counts = CountVectorizer().fit(texts)
    tfidf = TfidfTransformer().fit(counts.transform(texts))
    clf = LogisticRegression(C=10.0).fit(tfidf.transform(counts.transform(texts)), labels)
    return [counts, tfidf, clf]


def text_ascii():
    """CountVectorizer -> TfidfTransformer -> LogisticRegression, three artifacts, ASCII only."""
    steps = _text_pipeline(SPAM + HAM, ["spam"] * len(SPAM) + ["ham"] * len(HAM))
    records = [{"id": f"t{i}", "text": t} for i, t in enumerate(SPAM + HAM)]
    return steps, records, []


def text_non_ascii():
    """The same pipeline with French words (é, à, è) in its vocabulary; ASCII samples."""
    texts = SPAM + SPAM_FR + HAM + HAM_FR
    labels = ["spam"] * (len(SPAM) + len(SPAM_FR)) + ["ham"] * (len(HAM) + len(HAM_FR))
    records = [{"id": f"t{i}", "text": t} for i, t in enumerate(SPAM + HAM)]
    return _text_pipeline(texts, labels), records, []


def table_frame(n: int = 400, seed: int = 0):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 90, n).astype(float),
            "income": np.round(rng.normal(50.0, 15.0, n), 1),
            "city": rng.choice(["paris", "lyon", "nice"], n),
        }
    )
    frame.loc[rng.random(n) < 0.1, "income"] = np.nan
    target = ((frame.age > 40) ^ (frame.city == "paris")).map({False: "no", True: "yes"})
    return frame, target


def table_forest():
    """One artifact: ColumnTransformer (imputer, one-hot) + RandomForest fitted on a frame.

    No scaler: a forest needs none, and a float32 scaler in front of trees is what the gate
    refuses (scaled training values sit within one float32 step of scikit-learn's thresholds).
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    frame, target = table_frame()
    pre = ColumnTransformer(
        [
            ("num", SimpleImputer(), ["age", "income"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["city"]),
        ]
    )
    forest = RandomForestClassifier(n_estimators=30, max_depth=5, random_state=0)
    pipeline = Pipeline([("pre", pre), ("model", forest)]).fit(frame, target)
    records = [
        {"id": "c1", "age": 42.0, "income": None, "city": "paris"},
        {"id": "c2", "age": 25.0, "income": 31.5, "city": "lyon"},
        {"id": "c3", "age": 67.0, "income": 80.2, "city": "nice"},
        {"id": "c4", "age": 35.0, "income": 55.0, "city": "marseille"},  # unseen: ignored
    ]
    return [pipeline], records, list(TABLE_COLUMNS)


def features_forest():
    """StandardScaler -> RandomForestClassifier on 4 features, integer classes."""
    import numpy as np
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    x = np.round(rng.normal(size=(200, 4)), 2)
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    scaler = StandardScaler().fit(x)
    forest = RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0)
    forest.fit(scaler.transform(x), y)
    records = [{"id": f"f{i}", "features": row} for i, row in enumerate(x[:10].tolist())]
    return [scaler, forest], records, []


def float32_sensitive_tree():
    """StandardScaler -> one-split tree; samples within 1e-8 of the split, where float32 flips.

    scikit-learn scales in float64 and rounds once; onnxruntime rounds the input to float32 and
    scales in float32, so records this close to the threshold land on either side.
    """
    import numpy as np
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(0)
    x = rng.normal(loc=0.3, scale=7.0, size=(400, 1))
    y = (x[:, 0] > 0.123456789).astype(int)
    scaler = StandardScaler().fit(x)
    tree = DecisionTreeClassifier(max_depth=1, random_state=0).fit(scaler.transform(x), y)
    split = tree.tree_.threshold[0] * scaler.scale_[0] + scaler.mean_[0]
    records = [{"id": f"edge{k}", "features": [float(split + k * 1e-10)]} for k in range(-100, 100)]
    return [scaler, tree], records, []


def unconvertible():
    """SplineTransformer (no skl2onnx converter) -> LogisticRegression on 2 features."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import SplineTransformer

    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 2))
    y = (x[:, 0] > 0).astype(int)
    spline = SplineTransformer().fit(x)
    clf = LogisticRegression().fit(spline.transform(x), y)
    return [spline, clf], [{"id": "u1", "features": [0.1, 0.2]}], []


def write_onnx_layer(
    opt: Path, converted, *, version: str = "o1", input_kind: str, **extra
) -> Path:
    """<opt>/mlayer/model.onnx with a FORMATS.md manifest carrying ``format: onnx``; ``extra``
    keys (input_schema, samples) are added to the manifest as they are."""
    import hashlib

    folder = opt / "mlayer"
    folder.mkdir(parents=True, exist_ok=True)
    graph = folder / "model.onnx"
    graph.write_bytes(converted.onnx_bytes)
    manifest = {
        "schema_version": 1,
        "model_version": version,
        "format": "onnx",
        "content_sha256": "0" * 64,
        "created_at": "2026-11-30T07:00:00Z",
        "created_by": {"user": "test", "host": "test", "git_commit": None, "git_dirty": False},
        "input_kind": input_kind,
        "artifacts": [
            {
                "file": "model.onnx",
                "role": "model",
                "sha256": hashlib.sha256(converted.onnx_bytes).hexdigest(),
                "size": len(converted.onnx_bytes),
                "class": "onnx",
            }
        ],
        "code": [],
        "outputs": {
            "predict": True,
            "predict_proba": converted.proba_output is not None,
            "classes": converted.classes,
        },
        "n_features": None,
        "versions": {},
        "globals": [],
        "metrics": {},
        "description": "onnx test model",
        "onnx": converted.manifest_block(),
        **extra,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return folder


CITIES = ["paris", "rome", "oslo", "lima", "kyiv", "pune", "cork", "nice"]


def churn_records(n: int, seed: int) -> list[dict]:
    """Generated customers (some incomes missing): the issue-23 pipeline's records."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return [
        {
            "id": f"r-{i}",
            "age": int(rng.integers(18, 80)),
            "income": None if i % 11 == 0 else round(float(rng.normal(50, 15)), 2),
            "tenure": round(float(rng.exponential(3)), 2),
            "city": str(rng.choice(CITIES)),
            "plan": str(rng.choice(["basic", "pro", "team"])),
        }
        for i in range(n)
    ]


def scaled_forest(records: int = 5000):
    """Issue 23 case 10: ColumnTransformer (SimpleImputer + StandardScaler on numbers, one-hot
    on strings) + a 200-tree RandomForest, trained on 3,000 generated rows; ``records`` others.

    A float32 graph flips labels on this one (scaled training values sit within a float32 step
    of scikit-learn's thresholds); the double preprocessing graph does not.
    """
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    train = churn_records(3000, seed=1)
    frame = pd.DataFrame(train).drop(columns="id")
    y = ["churn" if r["tenure"] < 2 and r["age"] < 40 else "stay" for r in train]
    pre = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), ["age", "income", "tenure"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["city", "plan"]),
        ]
    )
    forest = RandomForestClassifier(n_estimators=200, max_depth=12, random_state=0)
    pipeline = Pipeline([("pre", pre), ("model", forest)]).fit(frame, y)
    return [pipeline], churn_records(records, seed=7), []
