"""publish-model of a DataFrame pipeline through the CLI, against the embedded AWS (issue 14).

GIVEN a ColumnTransformer (imputer + scaler on numbers, one-hot on strings) + forest fitted on a
DataFrame and a deps layer with pandas, WHEN it is published without --input and with
--sample, THEN mlayer says it chose ``table`` and why, the manifest holds the columns and the
first 20 samples with their predictions (with a warning that the rest were not kept), and the
real handler on the sklearn-pandas layer serves exactly what the pipeline predicts on the same
DataFrame. Without --sample the publish warns that the model is unchecked.
"""

from __future__ import annotations

import io
import json
import sys
import zipfile
from pathlib import Path

import joblib
import pandas as pd
import pytest
from function_support import HandlerProcess, kinesis_event
from publish_support import BUCKET, create_function, live_model, publish_deps, run_cli
from test_tabular import GOOD, forest_pipeline, training_frame

from mlayer.gateway import code_sha256_to_hex

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
MODULES = ["joblib", "numpy", "pandas", "scipy", "sklearn", "threadpoolctl"]


@pytest.fixture(scope="module")
def pandas_layer(tmp_path_factory) -> Path:
    """layers/sklearn-pandas built by mlayer's pip builder (cached in <repo>/.cache/mlayer)."""
    import platform

    from mlayer.build import BuildRequest, build_layer

    arch = "arm64" if platform.machine().lower() in ("aarch64", "arm64") else "x86_64"
    build = build_layer(
        BuildRequest(
            requirements=REPO / "layers" / "sklearn-pandas" / "requirements.txt",
            runtime=f"python{sys.version_info[0]}.{sys.version_info[1]}",
            arch=arch,
            builder="pip",
            output=tmp_path_factory.mktemp("pandas-layer-out"),
            cache_dir=REPO / ".cache" / "mlayer",
        )
    )
    return build.tree.parent


@pytest.fixture(scope="module")
def model_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("table-model")
    joblib.dump(forest_pipeline(), folder / "forest.joblib")
    frame, _ = training_frame(30)
    records = [
        {"id": f"s{i}", **{k: (None if pd.isna(v) else v) for k, v in row.items()}}
        for i, row in enumerate(frame.to_dict("records"))
    ]
    (folder / "sample.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records[:25]))
    return {"model": folder / "forest.joblib", "sample": folder / "sample.jsonl"}


@pytest.fixture
def deployed(gw):
    create_function(gw, [publish_deps(gw, modules=MODULES)])


def unpack_live(gw, root: Path) -> Path:
    name, version = live_model(gw).split(":")[-2:]
    sha = code_sha256_to_hex(gw.get_layer_version(name, int(version))["Content"]["CodeSha256"])
    zipfile.ZipFile(io.BytesIO(gw.get_bytes(BUCKET, f"layers/{sha}.zip"))).extractall(root)
    return root / "mlayer"


def test_a_dataframe_pipeline_is_published_as_table_and_served_as_it_predicts(
    gw, deployed, model_files, tmp_path, pandas_layer, runtime_dir
):
    result, doc = run_cli(
        "publish-model", str(model_files["model"]), "--sample", str(model_files["sample"]), "--yes"
    )
    assert result.exit_code == 0, result.output
    assert doc["input_kind"] == "table" and "feature_names_in_" in doc["input_reason"]
    assert any(w.startswith("Input kind table") for w in doc["warnings"])
    assert any("only the first 20" in w for w in doc["warnings"])
    manifest = doc["manifest"]
    assert [c["name"] for c in manifest["input_schema"]["columns"]] == ["age", "income", "city"]
    assert len(manifest["samples"]) == doc["samples_kept"] == 20
    assert manifest["format"] == "sklearn" and manifest["trusted_globals"] == []

    proc = HandlerProcess(
        model_dir=unpack_live(gw, tmp_path / "opt"),
        deps_layer=pandas_layer,
        runtime_dir=runtime_dir,
        workdir=tmp_path / "run",
        env={"MLAYER_OUTPUT_SINK": "stdout://"},
    )
    try:
        response = proc.invoke(kinesis_event(GOOD))
    finally:
        proc.close()
    assert response == {"batchItemFailures": []}  # the self-check passed at the cold start
    ids = {r["id"] for r in GOOD}
    served = {line["id"]: line for line in proc.log_lines() if line.get("id") in ids}
    frame = pd.DataFrame(
        [
            {c: (float("nan") if r.get(c) is None else r[c]) for c in ("age", "income", "city")}
            for r in GOOD
        ]
    )
    expected = joblib.load(model_files["model"]).predict(frame).tolist()
    assert [served[r["id"]]["prediction"] for r in GOOD] == expected


def test_without_sample_the_model_is_published_unchecked_and_says_so(gw, deployed, model_files):
    result, doc = run_cli("publish-model", str(model_files["model"]), "--input", "table", "--yes")
    assert result.exit_code == 0, result.output
    assert doc["samples_kept"] == 0 and doc["manifest"]["samples"] == []
    assert any("published unchecked" in w for w in doc["warnings"])
    assert not any(w.startswith("Input kind") for w in doc["warnings"])  # asked for, not chosen
    from click.testing import CliRunner

    from mlayer.cli import cli

    args = ["publish-model", str(model_files["model"]), "--input", "table", "--dry-run"]
    human = CliRunner().invoke(cli, args)
    assert human.exit_code == 0 and "published unchecked" in human.stderr


def test_a_table_model_on_a_deps_layer_without_pandas_is_refused(gw, model_files):
    create_function(gw, [publish_deps(gw)])
    result, doc = run_cli(
        "publish-model", str(model_files["model"]), "--sample", str(model_files["sample"]), "--yes"
    )
    assert result.exit_code == 1 and doc["error"] == "ModelError" and "pandas" in doc["message"]
