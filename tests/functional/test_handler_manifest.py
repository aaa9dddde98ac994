"""The manifest contract, both ways: written by mlayer.model.manifest, read by function/modelstore.py.

function/ never imports mlayer, so this test is what keeps the two sides of docs/FORMATS.md in
step: a field renamed on one side fails here, not on Lambda.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import joblib
import pytest

from mlayer.model import manifest as mf
from mlayer.model.artifacts import inspect_pipeline

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "function"))

from mlayer_function import modelstore  # noqa: E402


def publish_locally(paths: list[Path], opt: Path) -> Path:
    """What publish-model puts in the model layer's mlayer/ folder, without AWS."""
    pipeline = inspect_pipeline(paths[-1], paths[:-1])
    manifest = mf.build_manifest(
        label="v7",
        artifacts=pipeline.artifacts,
        code=[],
        input_kind=pipeline.input_kind,
        outputs=pipeline.outputs,
        n_features=pipeline.n_features,
        versions={"python": "3.12.0", "scikit-learn": "1.7.2"},
        created_at="2026-11-24T07:00:00Z",
        created_by={"user": "t", "host": "h", "git_commit": None, "git_dirty": False},
    )
    folder = opt / "mlayer"
    folder.mkdir(parents=True)
    for path, artifact in zip(paths, pipeline.artifacts, strict=True):
        shutil.copyfile(path, folder / artifact.file)
    (folder / "manifest.json").write_bytes(mf.to_json(manifest))
    return folder


def split_steps(model_dir: Path, tmp_path: Path) -> list[Path]:
    """The session's test models, re-saved as loose files as a user would have them."""
    out = []
    for artifact in modelstore.read_manifest(model_dir)["artifacts"]:
        target = tmp_path / "user" / artifact["file"].split("-", 1)[1]
        target.parent.mkdir(exist_ok=True)
        joblib.dump(joblib.load(model_dir / artifact["file"]), target)
        out.append(target)
    return out


@pytest.mark.parametrize(
    ("kind", "row", "expected"),
    [("text", "win free money now", "spam"), ("features", [3.0, 3.0, 0.0, 0.0], 1)],
)
def test_a_manifest_written_by_mlayer_loads_and_predicts_in_the_function(
    tmp_path, model_layers, kind, row, expected
):
    folder = publish_locally(split_steps(model_layers[kind], tmp_path), tmp_path / "opt")

    model = modelstore.load_model(folder)

    assert model.version == "v7" and model.input_kind == kind
    assert model.n_features == (4 if kind == "features" else None)
    labels, probas = model.predict([row])
    assert labels == [expected]
    assert set(probas[0]) == {str(c) for c in model.manifest["outputs"]["classes"]}


def test_a_manifest_from_a_newer_schema_is_refused(tmp_path, model_layers):
    folder = publish_locally(split_steps(model_layers["text"], tmp_path), tmp_path / "opt")
    text = (
        (folder / "manifest.json").read_text().replace('"schema_version": 1', '"schema_version": 2')
    )
    (folder / "manifest.json").write_text(text)
    with pytest.raises(modelstore.ModelIntegrityError, match="schema_version 2"):
        modelstore.load_model(folder)


def publish_with_samples(paths: list[Path], opt: Path, records: list[dict], tmp_path: Path):
    """publish_locally with ``--sample``: the records and their publish-time predictions."""
    sample = tmp_path / "samples.jsonl"
    sample.write_text("".join(json.dumps(r) + "\n" for r in records))
    pipeline = inspect_pipeline(paths[-1], paths[:-1], sample=sample)
    folder = publish_locally(paths, opt)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["samples"] = [dict(s) for s in pipeline.samples]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder, pipeline


SAMPLES = {
    "text": [{"id": "t1", "text": "win free money now"}, {"id": "t2", "text": "lunch at noon?"}],
    "features": [
        {"id": 1, "features": [3.0, 3.0, 0.0, 0.0]},
        {"id": 2, "features": [-2, -2, 0, 1]},
    ],
}


@pytest.mark.parametrize("kind", ["text", "features"])
def test_samples_published_with_a_model_are_reproduced_at_load(tmp_path, model_layers, kind):
    paths = split_steps(model_layers[kind], tmp_path)
    folder, pipeline = publish_with_samples(paths, tmp_path / "opt", SAMPLES[kind], tmp_path)

    assert [s["record"] for s in pipeline.samples] == SAMPLES[kind]
    assert all(set(s) == {"record", "prediction", "probabilities"} for s in pipeline.samples)
    model = modelstore.load_model(folder)
    assert model.check_ms > 0


@pytest.mark.parametrize("kind", ["text", "features"])
def test_a_sample_no_longer_reproduced_refuses_the_model_naming_the_record(
    tmp_path, model_layers, kind
):
    paths = split_steps(model_layers[kind], tmp_path)
    folder, _ = publish_with_samples(paths, tmp_path / "opt", SAMPLES[kind], tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    second = manifest["samples"][1]
    first_class = next(iter(second["probabilities"]))
    second["probabilities"][first_class] += 0.01  # a layer whose floating point drifted
    (folder / "manifest.json").write_text(json.dumps(manifest))

    with pytest.raises(modelstore.ModelIntegrityError) as caught:
        modelstore.load_model(folder)
    record_id = SAMPLES[kind][1]["id"]
    assert f"sample record {record_id!r} is not reproduced: P({first_class})" in str(caught.value)


def test_a_sample_the_function_would_dead_letter_refuses_the_model(tmp_path, model_layers):
    paths = split_steps(model_layers["features"], tmp_path)
    folder, _ = publish_with_samples(paths, tmp_path / "opt", SAMPLES["features"], tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["samples"][0]["record"]["features"] = [1.0]
    (folder / "manifest.json").write_text(json.dumps(manifest))

    with pytest.raises(modelstore.ModelIntegrityError, match="sample record 1 is not a valid"):
        modelstore.load_model(folder)
