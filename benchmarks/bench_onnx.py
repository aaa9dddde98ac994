"""ONNX serving (issue 15) against scikit-learn serving, each figure beside its same-run baseline.

- Warm batch of 100 table records: a ColumnTransformer (imputer + scaler on numbers, one-hot
  on strings) + 200-tree RandomForest. Through handler.App.handle (a Kinesis event: decode,
  check every column, predict, stdout sink at /dev/null), ONNX app vs sklearn app: target
  <= 0.15x. Also at the predictor alone (onnx_model.OnnxModel vs modelstore.LoadedModel with
  tabular.TableSchema's DataFrame, the same row tuples in). The text pipeline's ratio is
  reported.
- Cold import + load in a fresh interpreter: numpy + onnxruntime + the session vs joblib +
  scikit-learn + the pickle (medians of 5). Target <= 0.2x.
- Deps layer for python3.12 x86_64 (pip builder, build cache): layers/onnx with
  slim_onnx's finder applied vs layers/sklearn, unzipped. Target <= 0.6x.
- The parity gate's verdict on the benchmark pipeline.

Run: ``make bench`` or ``.venv/bin/python -m benchmarks bench_onnx``.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "function"), str(REPO / "tests")]

WARM_TARGET, COLD_TARGET, LAYER_TARGET = 0.15, 0.2, 0.6
BATCH, REPEAT, COLD_RUNS = 100, 50, 5
MB = 1024 * 1024
CITIES = ["paris", "rome", "oslo", "lima", "kyiv", "pune", "cork", "nice"]


def records(n: int, seed: int) -> list[dict]:
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


def forest_pipeline():
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    train = records(3000, seed=1)
    frame = pd.DataFrame(train).drop(columns="id")
    y = ["churn" if r["tenure"] < 2 and r["age"] < 40 else "stay" for r in train]
    pre = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), ["age", "income", "tenure"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["city", "plan"]),
        ]
    )
    forest = RandomForestClassifier(n_estimators=200, max_depth=12, random_state=0)
    return Pipeline([("pre", pre), ("model", forest)]).fit(frame, y)


def _median_ms(fn, repeat: int = REPEAT) -> float:
    fn()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def predictors(steps, converted, schema, folder: Path):
    """(sklearn LoadedModel, OnnxModel) as the function builds them."""
    import onnx_models
    from mlayer_function.modelstore import LoadedModel, class_key
    from mlayer_function.onnx_model import load_onnx_model
    from mlayer_function.tabular import TableSchema

    *pre, model = steps
    table = TableSchema.from_manifest(schema) if schema else None
    classes = list(getattr(model, "classes_", []))
    sk = LoadedModel(
        version="bench",
        input_kind=converted.input_kind,
        n_features=None,
        preprocessors=pre,
        estimator=model,
        with_proba=True,
        class_keys=[class_key(c) for c in classes],
        manifest={},
        table=table,
    )
    model_dir = onnx_models.write_onnx_layer(folder, converted, input_kind=converted.input_kind)
    ox = load_onnx_model(model_dir, environ={"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1769"})
    return sk, ox, model_dir


def warm_table(tmp: Path) -> dict:
    from mlayer_function.tabular import TableSchema

    from mlayer.model.schema import table_schema
    from mlayer.onnx.convert import convert_pipeline
    from mlayer.onnx.errors import OnnxParityError
    from mlayer.onnx.parity import check_parity

    pipeline = forest_pipeline()
    schema = table_schema([pipeline])
    converted = convert_pipeline([pipeline], "table", columns=schema)
    batch = records(BATCH, seed=7)
    try:
        report = check_parity([pipeline], converted, batch, columns=schema)
        verdict = f"passed ({report.records} records, max |dP| {report.max_proba_diff:.1e})"
    except OnnxParityError as exc:
        verdict = f"REFUSED: {exc.cause} ({len(exc.differences)}+ records listed)"
    sk, ox, model_dir = predictors([pipeline], converted, schema, tmp / "table")
    rows = [TableSchema.from_manifest(schema).row(r) for r in batch]
    same = sk.predict(rows)[0] == ox.predict(rows)[0]
    joblib_path = tmp / "pipeline.joblib"
    import joblib

    joblib.dump(pipeline, joblib_path)
    through = through_handler(pipeline, schema, model_dir.parent, tmp / "sk-opt", batch)
    return {
        **through,
        "sklearn_ms": _median_ms(lambda: sk.predict(rows)),
        "onnx_ms": _median_ms(lambda: ox.predict(rows)),
        "labels_equal": same,
        "gate": verdict,
        "model_dir": model_dir,
        "joblib": joblib_path,
        "onnx_bytes": len(converted.onnx_bytes),
        "joblib_bytes": joblib_path.stat().st_size,
    }


def kinesis_event(batch: list[dict]) -> dict:
    return {
        "Records": [
            {
                "eventSource": "aws:kinesis",
                "eventID": f"shardId-000000000000:{i + 1}",
                "kinesis": {
                    "sequenceNumber": str(i + 1),
                    "data": base64.b64encode(json.dumps(r).encode()).decode(),
                },
            }
            for i, r in enumerate(batch)
        ]
    }


def through_handler(pipeline, schema, onnx_opt: Path, sk_opt: Path, batch: list[dict]) -> dict:
    """Both formats through handler.App.handle (decode, check, predict, stdout sink at /dev/null)."""
    from function_support import write_model_layer

    sk_dir = write_model_layer(sk_opt, [pipeline], input_kind="table", version="sk")
    manifest = json.loads((sk_dir / "manifest.json").read_text())
    manifest["input_schema"] = schema
    (sk_dir / "manifest.json").write_text(json.dumps(manifest))
    onnx_manifest = json.loads((onnx_opt / "mlayer" / "manifest.json").read_text())
    onnx_manifest["input_schema"] = schema
    (onnx_opt / "mlayer" / "manifest.json").write_text(json.dumps(onnx_manifest))
    env = {"MLAYER_OUTPUT_SINK": "stdout://", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1769"}
    os.environ.update({**env, "MLAYER_MODEL_DIR": str(sk_dir)})
    event = kinesis_event(batch)
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        from mlayer_function import handler  # the cold start, on the sklearn model

        apps = {
            "sklearn": handler.APP,
            "onnx": handler.init({**env, "MLAYER_MODEL_DIR": str(onnx_opt / "mlayer")}),
        }
        out = {}
        for name, app in apps.items():
            with contextlib.redirect_stdout(io.StringIO()) as seen:
                assert app.handle(event) == {"batchItemFailures": []}, name
            assert f'"predicted": {len(batch)},' in seen.getvalue(), f"{name}: not all predicted"
        for _ in range(3):  # interleaved: drift hits both sides alike
            for name, app in apps.items():
                ms = _median_ms(lambda a=app: a.handle(event), REPEAT // 2)
                out[f"handler_{name}_ms"] = min(ms, out.get(f"handler_{name}_ms", ms))
    return out


def warm_text(tmp: Path) -> dict:
    import onnx_models

    from mlayer.onnx.convert import convert_pipeline

    steps, samples, _ = onnx_models.text_ascii()
    converted = convert_pipeline(steps, "text")
    sk, ox, _ = predictors(steps, converted, None, tmp / "text")
    texts = [samples[i % len(samples)]["text"] + f" {i}" for i in range(BATCH)]
    return {
        "sklearn_ms": _median_ms(lambda: sk.predict(texts)),
        "onnx_ms": _median_ms(lambda: ox.predict(texts)),
    }


ONNX_CHILD = """
import sys, time
t0 = time.perf_counter()
sys.path[:0] = [sys.argv[1], sys.argv[2]]
from mlayer_function.onnx_model import load_onnx_model
load_onnx_model(sys.argv[3], environ={"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1769"})
print((time.perf_counter() - t0) * 1000)
"""
SKLEARN_CHILD = """
import sys, time
t0 = time.perf_counter()
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import joblib
joblib.load(sys.argv[3])
print((time.perf_counter() - t0) * 1000)
"""


def cold(model_dir: Path, joblib_path: Path) -> dict:
    import numpy

    site = str(Path(numpy.__file__).resolve().parents[1])
    out = {}
    for name, code, target in (
        ("onnx", ONNX_CHILD, model_dir),
        ("sklearn", SKLEARN_CHILD, joblib_path),
    ):
        times = []
        for _ in range(COLD_RUNS):
            done = subprocess.run(
                [sys.executable, "-S", "-E", "-c", code, str(REPO / "function"), site, str(target)],
                capture_output=True,
                text=True,
                check=True,
            )
            times.append(float(done.stdout.strip()))
        out[name] = statistics.median(times)
    return out


def layer_sizes(tmp: Path) -> dict:
    from mlayer.build import BuildRequest, build_layer
    from mlayer.build.slim_onnx import find_onnxruntime_unused
    from mlayer.build.tree import dir_size

    builds = {}
    for recipe in ("onnx", "sklearn"):
        builds[recipe] = build_layer(
            BuildRequest(
                requirements=REPO / "layers" / recipe / "requirements.txt",
                runtime="python3.12",
                arch="x86_64",
                builder="pip",
                output=tmp / recipe,
                cache_dir=REPO / ".cache" / "mlayer",
            )
        )
    copy = tmp / "onnx-slim"
    shutil.copytree(builds["onnx"].tree, copy, symlinks=True)
    dropped = find_onnxruntime_unused(copy)
    for path in dropped:
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    return {
        "onnx": builds["onnx"].budget.unzipped,
        "onnx_slim": dir_size(copy),
        "sklearn": builds["sklearn"].budget.unzipped,
        "dropped": [p.relative_to(copy).as_posix() for p in dropped],
    }


def main() -> int:
    failed = False
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        table = warm_table(tmp)
        ratio = table["onnx_ms"] / table["sklearn_ms"]
        print(
            f"warm table batch of {BATCH} (200-tree forest): onnxruntime {table['onnx_ms']:.2f} ms "
            f"vs scikit-learn {table['sklearn_ms']:.2f} ms: {ratio:.3f}x (target <= "
            f"{WARM_TARGET}x); labels equal: {table['labels_equal']}"
        )
        ratio = table["handler_onnx_ms"] / table["handler_sklearn_ms"]
        print(
            f"  through the handler (Kinesis event of {BATCH}: decode, check, predict, stdout "
            f"sink): onnx {table['handler_onnx_ms']:.2f} ms vs sklearn "
            f"{table['handler_sklearn_ms']:.2f} ms: {ratio:.3f}x (target <= {WARM_TARGET}x)"
        )
        failed |= ratio > WARM_TARGET
        print(f"parity gate on that pipeline: {table['gate']}")
        failed |= not table["labels_equal"] or table["gate"].startswith("REFUSED")
        print(
            f"model files: model.onnx {table['onnx_bytes'] / MB:.1f} MB vs pipeline.joblib "
            f"{table['joblib_bytes'] / MB:.1f} MB"
        )
        text = warm_text(tmp)
        print(
            f"warm text batch of {BATCH} (CountVectorizer, TF-IDF, LogisticRegression): "
            f"onnxruntime {text['onnx_ms']:.2f} ms vs scikit-learn {text['sklearn_ms']:.2f} ms: "
            f"{text['onnx_ms'] / text['sklearn_ms']:.3f}x"
        )
        init = cold(table["model_dir"], table["joblib"])
        ratio = init["onnx"] / init["sklearn"]
        print(
            f"cold import + load in a fresh python: onnxruntime {init['onnx']:.0f} ms vs "
            f"joblib + scikit-learn {init['sklearn']:.0f} ms: {ratio:.3f}x (target <= "
            f"{COLD_TARGET}x, medians of {COLD_RUNS})"
        )
        failed |= ratio > COLD_TARGET
        sizes = layer_sizes(tmp)
    ratio = sizes["onnx_slim"] / sizes["sklearn"]
    print(
        f"deps layer python3.12 x86_64 unzipped: onnx {sizes['onnx_slim'] / MB:.1f} MB "
        f"(built {sizes['onnx'] / MB:.1f} MB, minus {', '.join(sizes['dropped'])}) vs sklearn "
        f"{sizes['sklearn'] / MB:.1f} MB: {ratio:.2f}x (target <= {LAYER_TARGET}x)"
    )
    failed |= ratio > LAYER_TARGET
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
