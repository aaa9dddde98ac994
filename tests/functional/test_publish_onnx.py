"""publish-model --format onnx through the CLI, against the embedded AWS (issue 15).

GIVEN real scikit-learn pipelines saved as joblib files and a dependencies layer whose lock has
onnxruntime, WHEN they are published with ``--format onnx --sample FILE``, THEN the layer ships
one graph (no pickle), the manifest says ``format: onnx`` with the parity figures, and the real
handler (a child Python without scikit-learn) serves what scikit-learn predicts. Refusals
(no --sample, a python3.11 runtime, a non-ASCII vocabulary, an unconvertible estimator) publish
nothing. Rollback between formats follows the deps layer's lock: refused when the layer lacks
the target's runtime, served when it holds both.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import zipfile
from pathlib import Path

import joblib
import pytest

pytest.importorskip("skl2onnx")
pytest.importorskip("onnxruntime")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import onnx_models  # noqa: E402
from function_support import HandlerProcess, kinesis_event  # noqa: E402
from publish_support import (  # noqa: E402
    BUCKET,
    DEPS,
    MODEL,
    create_function,
    fake_zip,
    live_model,
    run_cli,
    snapshot,
)
from test_onnx_function import ONNX_DEPS  # noqa: E402

from mlayer.gateway import code_sha256_to_hex  # noqa: E402

pytestmark = pytest.mark.slow
SKLEARN = {"scikit-learn": "1.7.2", "numpy": "2.2.6", "scipy": "1.15.3", "joblib": "1.5.2"}
ONNX = {"onnxruntime": "1.32.0", "numpy": "2.2.6"}
BSPLINE = "scipy.interpolate._bsplines.BSpline"


def publish_lock(gw, packages: dict, note: str) -> str:
    """A small deps layer whose lock lists ``packages`` (what build-deps writes), published."""
    gw.ensure_bucket(BUCKET)
    data = fake_zip({"python/placeholder.txt": note.encode()})
    sha = hashlib.sha256(data).hexdigest()
    modules = sorted({"sklearn" if p == "scikit-learn" else p for p in packages} | {"pandas"})
    lock = {
        "schema_version": 1,
        "runtime": "python3.12",
        "python_version": "3.12",
        "architecture": "x86_64",
        "builder": "pip",
        "requirements_sha256": "0" * 64,
        "packages": packages,
        "modules": modules,
        "unzipped_size": 130_000_000,
        "zipped_size": len(data),
        "zip_sha256": sha,
    }
    gw.put_bytes(BUCKET, f"layers/{sha}.zip", data)
    gw.put_json(BUCKET, f"layers/{sha}.lock.json", lock)
    return gw.publish_layer_version(DEPS, note, s3=(BUCKET, f"layers/{sha}.zip"))["LayerVersionArn"]


def save(folder: Path, steps: list, records: list[dict]) -> list[str]:
    """The steps as joblib files and the records as --sample: publish-model's arguments."""
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i, step in enumerate(steps):
        path = folder / f"{i:02d}-{type(step).__name__.lower()}.joblib"
        joblib.dump(step, path)
        names.append(str(path))
    sample = folder / "sample.jsonl"
    sample.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    args = [names[-1]]
    for pre in names[:-1]:
        args += ["-p", pre]
    return [*args, "--sample", str(sample)]


def publish(args: list[str], *extra: str):
    return run_cli("publish-model", *args, "--yes", *extra)


def unpack_live(gw, root: Path) -> Path:
    name, version = live_model(gw).split(":")[-2:]
    sha = code_sha256_to_hex(gw.get_layer_version(name, int(version))["Content"]["CodeSha256"])
    opt = root / f"opt-{version}"
    zipfile.ZipFile(io.BytesIO(gw.get_bytes(BUCKET, f"layers/{sha}.zip"))).extractall(opt)
    return opt / "mlayer"


def serve(model_dir: Path, deps: Path, runtime_dir: Path, workdir: Path, records: list[dict]):
    proc = HandlerProcess(
        model_dir=model_dir,
        deps_layer=deps,
        runtime_dir=runtime_dir,
        workdir=workdir,
        env={"MLAYER_OUTPUT_SINK": "stdout://"},
    )
    try:
        response = proc.invoke(kinesis_event(records))
        info = proc.info()
    finally:
        proc.close()
    assert response == {"batchItemFailures": []}
    ids = {r["id"] for r in records}
    return [line for line in proc.log_lines() if line.get("id") in ids], info


def sklearn_text(steps: list, texts: list[str]) -> list:
    x = texts
    for step in steps[:-1]:
        x = step.transform(x)
    return steps[-1].predict(x).tolist()


@pytest.fixture(scope="module")
def onnx_deps(tmp_path_factory) -> Path:
    """An ONNX deps layer's python/ folder (numpy + onnxruntime, no scikit-learn), linking this
    venv's packages."""
    import numpy

    site = Path(numpy.__file__).resolve().parents[1]
    layer = tmp_path_factory.mktemp("onnx-deps")
    (layer / "python").mkdir()
    for name in ONNX_DEPS:
        if (site / name).exists():
            (layer / "python" / name).symlink_to(site / name)
    return layer


@pytest.fixture
def onnx_function(gw):
    create_function(gw, [publish_lock(gw, ONNX, "onnx deps")])


def test_an_ascii_text_model_is_published_as_one_graph_and_served_without_sklearn(
    gw, onnx_function, tmp_path, onnx_deps, runtime_dir
):
    steps, records, _ = onnx_models.text_ascii()
    args = save(tmp_path / "m", steps, records)
    result, doc = publish(args, "--format", "onnx")
    assert result.exit_code == 0, result.output
    assert doc["format"] == "onnx" and doc["manifest"]["format"] == "onnx"
    result, again = publish(args, "--format", "onnx")  # the same graph bytes: the same version
    assert again["reused"] and again["version"] == doc["version"] and again["parity"]
    parity = doc["parity"]
    assert parity["records"] >= 100 and parity["generated"] == parity["records"] - len(records)
    assert parity["ratio"] > 0 and "onnx_ms" in parity and "sklearn_ms" in parity
    assert [a["file"] for a in doc["manifest"]["artifacts"]] == ["model.onnx"]
    assert len(doc["manifest"]["samples"]) == doc["samples_kept"] == len(records)
    model_dir = unpack_live(gw, tmp_path)
    assert sorted(p.name for p in model_dir.iterdir()) == ["manifest.json", "model.onnx"]
    texts = ["win free money now", "see you at lunch", "cheap prize offer now"]
    results, info = serve(
        model_dir,
        onnx_deps,
        runtime_dir,
        tmp_path / "run",
        [{"id": f"k{i}", "text": t} for i, t in enumerate(texts)],
    )
    assert info["modules"]["sklearn"] is None and info["modules"]["joblib"] is None
    assert [r["prediction"] for r in results] == sklearn_text(steps, texts)
    assert {r["model_version"] for r in results} == {doc["label"]}


def test_a_table_forest_is_published_as_onnx_and_served_like_sklearn(
    gw, onnx_function, tmp_path, onnx_deps, runtime_dir
):
    steps, records, _ = onnx_models.table_forest()
    result, doc = publish(save(tmp_path / "m", steps, records), "--format", "onnx")
    assert result.exit_code == 0, result.output
    assert doc["input_kind"] == "table" and "feature_names_in_" in doc["input_reason"]
    assert [c["name"] for c in doc["manifest"]["input_schema"]["columns"]] == [
        "age",
        "income",
        "city",
    ]
    good = [
        {"id": "g1", "age": 45, "income": None, "city": "lyon"},
        {"id": "g2", "age": 30, "income": 61.5, "city": "atlantis"},
        {"id": "g3", "age": 70, "income": 20.0, "city": "paris"},
    ]
    results, _ = serve(unpack_live(gw, tmp_path), onnx_deps, runtime_dir, tmp_path / "run", good)
    import pandas as pd

    frame = pd.DataFrame(
        {
            "age": [45.0, 30.0, 70.0],
            "income": [float("nan"), 61.5, 20.0],
            "city": ["lyon", "atlantis", "paris"],
        }
    )
    assert [r["prediction"] for r in results] == steps[0].predict(frame).tolist()


def _refused(gw, args: list[str], *extra: str) -> dict:
    before = snapshot(gw)
    result, doc = publish(args, *extra)
    assert result.exit_code != 0, result.output
    assert snapshot(gw) == before and gw.list_layer_versions(MODEL) == []
    return doc


def test_onnx_without_sample_is_refused_and_nothing_is_published(gw, onnx_function, tmp_path):
    steps, records, _ = onnx_models.text_ascii()
    args = save(tmp_path / "m", steps, records)[:-2]  # no --sample
    doc = _refused(gw, args, "--format", "onnx")
    assert doc["error"] == "UsageError" and "--format onnx needs --sample FILE" in doc["message"]


def test_onnx_on_a_python311_function_is_refused(gw, onnx_function, tmp_path, monkeypatch):
    monkeypatch.setenv("MLAYER_FUNCTION_RUNTIME", "python3.11")
    steps, records, _ = onnx_models.text_ascii()
    doc = _refused(gw, save(tmp_path / "m", steps, records), "--format", "onnx")
    assert doc["error"] == "OnnxUnavailableError" and "python3.11" in doc["message"]
    assert "glibc" in doc["message"] and "--format sklearn" in doc["hint"]


def test_a_non_ascii_vocabulary_fails_the_parity_gate_and_nothing_is_published(
    gw, onnx_function, tmp_path
):
    steps, records, _ = onnx_models.text_non_ascii()
    doc = _refused(gw, save(tmp_path / "m", steps, records), "--format", "onnx")
    assert doc["error"] == "OnnxParityError" and "--format sklearn" in doc["hint"]


def test_an_unconvertible_estimator_is_refused_naming_it(gw, onnx_function, tmp_path):
    steps, records, _ = onnx_models.unconvertible()
    args = [*save(tmp_path / "m", steps, records), "--input", "features"]
    doc = _refused(gw, args, "--format", "onnx")  # scipy's BSpline is not on the allowlist
    assert doc["error"] == "UntrustedPickleError" and "--trust " + BSPLINE in doc["hint"]
    doc = _refused(gw, args, "--format", "onnx", "--trust", BSPLINE)
    assert doc["error"] == "OnnxConversionError" and "SplineTransformer" in doc["message"]


def test_a_trusted_global_is_recorded_in_the_manifest(gw, tmp_path):
    create_function(gw, [publish_lock(gw, SKLEARN, "sklearn deps")])
    steps, records, _ = onnx_models.unconvertible()
    args = [*save(tmp_path / "m", steps, records), "--input", "features"]
    result, doc = publish(args, "--trust", BSPLINE, "--trust", BSPLINE)
    assert result.exit_code == 0, result.output
    assert doc["manifest"]["trusted_globals"] == [BSPLINE] and doc["format"] == "sklearn"


def test_an_onnx_model_on_a_sklearn_only_deps_layer_is_refused(gw, tmp_path):
    create_function(gw, [publish_lock(gw, SKLEARN, "sklearn deps")])
    steps, records, _ = onnx_models.text_ascii()
    doc = _refused(gw, save(tmp_path / "m", steps, records), "--format", "onnx")
    assert doc["error"] == "ModelError" and "no onnxruntime" in doc["message"]
    assert "layers/onnx/requirements.txt" in doc["hint"]
    args = [*save(tmp_path / "m", steps, records), "--format", "onnx"]
    doc = _refused(gw, args, "--allow-version-mismatch")  # no flag makes it start (issue 23)
    assert doc["error"] == "ModelError" and "does not cover it" in doc["message"]


def test_rollback_between_formats_follows_the_deps_layer(gw, tmp_path, onnx_deps, runtime_dir):
    """One deps layer holding both runtimes serves both formats; rolling back onto a layer
    without the target's runtime is refused with the function left as it was."""
    both = publish_lock(gw, {**SKLEARN, **ONNX}, "both runtimes")
    create_function(gw, [both])
    steps, records, _ = onnx_models.text_ascii()
    args = save(tmp_path / "m", steps, records)
    result, sk = publish(args)
    assert result.exit_code == 0 and sk["format"] == "sklearn" and sk["version"] == 1
    result, ox = publish(args, "--format", "onnx")
    assert result.exit_code == 0 and ox["format"] == "onnx" and ox["version"] == 2
    assert not ox["reused"]  # another content: the graph, not the pickles
    result, back = run_cli("rollback", "--version", "1", "--yes")
    assert result.exit_code == 0, result.output
    assert live_model(gw).endswith(":1")
    assert sorted(p.name for p in unpack_live(gw, tmp_path / "sk").iterdir())[-1] == "manifest.json"
    result, _ = run_cli("rollback", "--version", "2", "--yes")
    assert result.exit_code == 0, result.output
    texts = ["win a free prize now", "meeting at noon"]
    served, _ = serve(
        unpack_live(gw, tmp_path / "ox"),
        onnx_deps,
        runtime_dir,
        tmp_path / "run",
        [{"id": f"r{i}", "text": t} for i, t in enumerate(texts)],
    )
    assert [r["prediction"] for r in served] == sklearn_text(steps, texts)
    # the function moves to an ONNX-only deps layer: the sklearn version cannot load there
    onnx_only = publish_lock(gw, ONNX, "onnx only")
    gw.update_function_configuration(
        "mlayer-predict", Layers=[onnx_only, live_model(gw)], revision_id=None
    )
    before = snapshot(gw)
    result, doc = run_cli("rollback", "--version", "1", "--yes")
    assert result.exit_code == 1 and doc["error"] == "ModelError"
    assert "no scikit-learn" in doc["message"] and snapshot(gw) == before
