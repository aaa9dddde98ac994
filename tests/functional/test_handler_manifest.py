"""The manifest contract, both ways: written by mlayer.manifest, read by function/modelstore.py.

function/ never imports mlayer, so this test is what keeps the two sides of docs/FORMATS.md in
step: a field renamed on one side fails here, not on Lambda.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import joblib
import pytest

from mlayer import manifest as mf
from mlayer.artifacts import inspect_pipeline

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
