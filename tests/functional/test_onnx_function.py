"""The function's ONNX predictor where scikit-learn cannot be: a child Python whose path holds
only the function's package and an ONNX deps layer (numpy + onnxruntime, no sklearn/joblib).

GIVEN a model layer written from a real conversion (model.onnx + a manifest with format onnx),
WHEN the child loads it and predicts, THEN the labels are scikit-learn's, probabilities within
the gate's tolerance, and neither scikit-learn nor joblib was imported (nor importable).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("skl2onnx")
pytest.importorskip("onnxruntime")

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

import onnx_models  # noqa: E402
from function_support import HandlerProcess, kinesis_event  # noqa: E402

from mlayer.onnx.both_sides import sklearn_input  # noqa: E402
from mlayer.onnx.convert import convert_pipeline  # noqa: E402
from mlayer.onnx.parity import PROBA_ABS_TOL  # noqa: E402
from mlayer.onnx.samples import record_rows  # noqa: E402

pytestmark = pytest.mark.slow

# What layers/onnx/requirements.txt installs, taken from this venv for this interpreter.
ONNX_DEPS = ("numpy", "numpy.libs", "onnxruntime", "google", "flatbuffers", "packaging")

CHILD = """
import json, sys
sys.path[:0] = json.loads(sys.argv[1])
try:
    import sklearn  # noqa: F401
    sklearn_importable = True
except ImportError:
    sklearn_importable = False
from mlayer_function.onnx_model import load_onnx_model
model = load_onnx_model(sys.argv[2], environ={"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "3538"})
labels, probas = model.predict(json.loads(sys.argv[3]))
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("sklearn", "joblib", "scipy"))
print(json.dumps({"labels": labels, "probas": probas, "heavy": heavy, "threads": model.threads,
                  "sklearn_importable": sklearn_importable}))
"""


@pytest.fixture(scope="module")
def onnx_deps(tmp_path_factory) -> Path:
    """A folder shaped like an ONNX deps layer (python/...), linking this venv's packages."""
    import numpy

    site = Path(numpy.__file__).resolve().parents[1]
    layer = tmp_path_factory.mktemp("onnx-deps")
    (layer / "python").mkdir()
    for name in ONNX_DEPS:
        if (site / name).exists():
            (layer / "python" / name).symlink_to(site / name)
    return layer


def _child_predict(onnx_deps: Path, model_dir: Path, rows: list) -> dict:
    path = [str(REPO / "function"), str(onnx_deps / "python")]
    done = subprocess.run(
        [
            sys.executable,
            "-S",
            "-E",
            "-c",
            CHILD,
            json.dumps(path),
            str(model_dir),
            json.dumps(rows),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_table_forest_predicts_like_sklearn_without_sklearn(tmp_path, onnx_deps):
    steps, records, columns = onnx_models.table_forest()
    converted = convert_pipeline(steps, "table", columns=columns)
    model_dir = onnx_models.write_onnx_layer(tmp_path, converted, input_kind="table")
    rows = record_rows(records, "table", columns)
    out = _child_predict(onnx_deps, model_dir, rows)
    assert out["heavy"] == [] and out["sklearn_importable"] is False and out["threads"] == 2
    frame = sklearn_input(rows, "table", columns)
    assert out["labels"] == steps[0].predict(frame).tolist()
    want = steps[0].predict_proba(frame)
    assert all(
        abs(got["no"] - w[0]) <= PROBA_ABS_TOL for got, w in zip(out["probas"], want, strict=True)
    )


def test_text_pipeline_predicts_like_sklearn_without_sklearn(tmp_path, onnx_deps):
    steps, records, _ = onnx_models.text_ascii()
    converted = convert_pipeline(steps, "text")
    model_dir = onnx_models.write_onnx_layer(tmp_path, converted, input_kind="text")
    texts = [r["text"] for r in records]
    out = _child_predict(onnx_deps, model_dir, texts)
    x = texts
    for step in steps[:-1]:
        x = step.transform(x)
    assert out["labels"] == steps[-1].predict(x).tolist() and out["heavy"] == []


def test_tampered_graph_is_refused_before_onnxruntime_reads_it(tmp_path, onnx_deps):
    steps, _, _ = onnx_models.features_forest()
    model_dir = onnx_models.write_onnx_layer(
        tmp_path, convert_pipeline(steps, "features"), input_kind="features"
    )
    graph = model_dir / "model.onnx"
    graph.write_bytes(graph.read_bytes()[:-1] + b"\0")
    path = [str(REPO / "function"), str(onnx_deps / "python")]
    done = subprocess.run(
        [sys.executable, "-S", "-E", "-c", CHILD, json.dumps(path), str(model_dir), "[]"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0 and "ModelIntegrityError" in done.stderr
    assert "refusing to serve a model that is not the published one" in done.stderr


def test_the_real_handler_serves_an_onnx_model_from_kinesis(tmp_path, onnx_deps, runtime_dir):
    steps, _, _ = onnx_models.text_ascii()
    converted = convert_pipeline(steps, "text")
    model_dir = onnx_models.write_onnx_layer(tmp_path / "opt", converted, input_kind="text")
    proc = HandlerProcess(
        model_dir=model_dir,
        deps_layer=onnx_deps,
        runtime_dir=runtime_dir,
        workdir=tmp_path / "run",
        env={"MLAYER_OUTPUT_SINK": "stdout://", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024"},
    )
    texts = ["win free money now", "see you at lunch", "cheap prize offer now"]
    try:
        response = proc.invoke(
            kinesis_event([{"id": f"k{i}", "text": t} for i, t in enumerate(texts)])
        )
        info = proc.info()
    finally:
        proc.close()
    assert response == {"batchItemFailures": []}
    assert info["modules"]["sklearn"] is None and info["modules"]["joblib"] is None
    results = [line for line in proc.log_lines() if line.get("id", "").startswith("k")]
    x = texts
    for step in steps[:-1]:
        x = step.transform(x)
    assert [r["prediction"] for r in results] == steps[-1].predict(x).tolist()
    assert all(set(r["probabilities"]) == {"ham", "spam"} for r in results)
    assert {r["model_version"] for r in results} == {"o1"}


def _table_layer(folder: Path, tamper: bool = False) -> tuple[list, Path]:
    from mlayer.model.schema import table_schema
    from mlayer.onnx.parity import check_parity

    steps, records, _ = onnx_models.table_forest()
    schema = table_schema(steps)
    converted = convert_pipeline(steps, "table", columns=schema)
    samples = [dict(s) for s in check_parity(steps, converted, records, columns=schema).samples]
    if tamper:
        samples[1]["prediction"] = "no" if samples[1]["prediction"] == "yes" else "yes"
    model_dir = onnx_models.write_onnx_layer(
        folder, converted, input_kind="table", input_schema=schema, samples=samples
    )
    return steps, model_dir


def test_the_real_handler_serves_an_onnx_table_model_with_its_self_check(
    tmp_path, onnx_deps, runtime_dir
):
    steps, model_dir = _table_layer(tmp_path / "opt")
    proc = HandlerProcess(
        model_dir=model_dir,
        deps_layer=onnx_deps,
        runtime_dir=runtime_dir,
        workdir=tmp_path / "run",
        env={"MLAYER_OUTPUT_SINK": "stdout://"},
    )
    good = [
        {"id": "g1", "age": 45, "income": None, "city": "lyon"},
        {"id": "g2", "age": 30, "income": 61.5, "city": "atlantis", "extra": 1},
        {"id": "g3", "age": 70, "income": 20.0, "city": "paris"},
    ]
    bad = {"id": "b1", "age": "old", "income": 1.0, "city": "nice"}
    try:
        response = proc.invoke(kinesis_event([*good, bad]))
        info = proc.info()
    finally:
        proc.close()
    assert response == {"batchItemFailures": []}
    assert info["modules"]["sklearn"] is None and info["modules"]["joblib"] is None
    lines = proc.log_lines()
    results = [line for line in lines if str(line.get("id", "")).startswith("g")]
    rows = record_rows(good, "table", [("age", "number"), ("income", "number"), ("city", "string")])
    frame = sklearn_input(
        rows, "table", [("age", "number"), ("income", "number"), ("city", "string")]
    )
    assert [r["prediction"] for r in results] == steps[0].predict(frame).tolist()
    (letter,) = [line for line in lines if "reason" in line]
    assert "'age'" in letter["reason"] and letter["reason"].startswith("wrong type")


def test_onnx_self_check_refuses_samples_that_do_not_reproduce(tmp_path, onnx_deps, runtime_dir):
    from function_support import InitError

    _, model_dir = _table_layer(tmp_path / "opt", tamper=True)
    with pytest.raises(InitError) as caught:
        HandlerProcess(
            model_dir=model_dir,
            deps_layer=onnx_deps,
            runtime_dir=runtime_dir,
            workdir=tmp_path / "run",
            env={"MLAYER_OUTPUT_SINK": "stdout://"},
        )
    message = caught.value.error["errorMessage"]
    assert "self-check: sample record 'c2' is not reproduced" in message
