"""Issue 23 case 10 through the CLI: preprocessing before trees is served as scikit-learn computes it.

GIVEN the most common tabular pipeline (imputer + scaler on numbers, one-hot on strings, a
200-tree forest) and 5,000 records, WHEN it is published with ``--format onnx``, THEN the gate
passes with every label identical (the float32 graph differed on 113 records, labels included),
the manifest says the numeric inputs are double, and the real handler serves scikit-learn's
labels. A pipeline that still disagrees is refused with the measured numbers and the flag to
accept them; with ``--parity-tolerance`` it is published and the manifest records both.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

pytest.importorskip("skl2onnx")
pytest.importorskip("onnxruntime")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import onnx_models  # noqa: E402
import test_publish_onnx  # noqa: E402
from publish_support import MODEL, live_model, snapshot  # noqa: E402
from test_publish_onnx import publish, save, serve, unpack_live  # noqa: E402

onnx_deps = test_publish_onnx.onnx_deps  # fixtures, shared with the issue-15 tests
onnx_function = test_publish_onnx.onnx_function

pytestmark = pytest.mark.slow


def test_the_scaled_forest_passes_the_gate_on_5000_records_and_serves_sklearns_labels(
    gw, onnx_function, tmp_path, onnx_deps, runtime_dir
):
    import pandas as pd

    steps, records, _ = onnx_models.scaled_forest()
    result, doc = publish(save(tmp_path / "m", steps, records), "--format", "onnx")
    assert result.exit_code == 0, result.output
    block = doc["manifest"]["onnx"]
    assert [(i["name"], i["elem"]) for i in block["inputs"]] == [
        ("age", "double"),
        ("income", "double"),
        ("tenure", "double"),
        ("city", "string"),
        ("plan", "string"),
    ]
    parity = block["parity"]
    assert parity["records"] == 5000 and parity["generated"] == 0
    assert parity["differing"] == 0 and parity["label_disagreements"] == 0
    assert parity["max_proba_diff"] < 1e-6 and block["parity_tolerance"] is None
    batch = onnx_models.churn_records(60, seed=11)
    results, info = serve(
        unpack_live(gw, tmp_path), onnx_deps, runtime_dir, tmp_path / "run", batch
    )
    assert info["modules"]["sklearn"] is None
    frame = pd.DataFrame(batch).drop(columns="id").astype({"income": float})
    by_id = {r["id"]: r["prediction"] for r in results}
    assert [by_id[r["id"]] for r in batch] == steps[0].predict(frame).tolist()


def test_a_pipeline_that_still_disagrees_is_refused_with_its_numbers_then_accepted_explicitly(
    gw, onnx_function, tmp_path
):
    steps, records, _ = onnx_models.text_non_ascii()
    args = save(tmp_path / "m", steps, records)
    before = snapshot(gw)
    result, doc = publish(args, "--format", "onnx")
    assert result.exit_code == 1 and doc["error"] == "OnnxParityError"
    assert snapshot(gw) == before and gw.list_layer_versions(MODEL) == []
    measured = re.search(r"(\d+) labels differ, probabilities by up to ([0-9.e-]+)", doc["message"])
    assert measured and int(measured[1]) >= 1, doc["message"]
    flag = re.search(r"--parity-tolerance ([0-9.e-]+)", doc["hint"])
    assert flag and float(flag[1]) >= float(measured[2]), doc["hint"]

    result, doc = publish(args, "--format", "onnx", "--parity-tolerance", flag[1])
    assert result.exit_code == 0, result.output
    block = doc["manifest"]["onnx"]
    assert block["parity_tolerance"] == float(flag[1])
    parity = block["parity"]
    assert parity["parity_tolerance"] == float(flag[1])
    assert parity["label_disagreements"] == int(measured[1]) and parity["differing"] >= 1
    assert f"{parity['max_proba_diff']:.3g}" == measured[2]  # the message's 3 digits
    assert live_model(gw)
    from click.testing import CliRunner

    from mlayer.cli import cli

    again = ["publish-model", *args, "--yes", "--format", "onnx", "--parity-tolerance", flag[1]]
    shown = CliRunner().invoke(cli, again, catch_exceptions=False)  # the same graph: reused
    assert shown.exit_code == 0, shown.output
    assert f"Accepted with --parity-tolerance {flag[1]}: {parity['differing']} records" in (
        shown.output
    )


def test_a_tolerance_below_the_measured_difference_is_still_refused(gw, onnx_function, tmp_path):
    steps, records, _ = onnx_models.text_non_ascii()
    args = save(tmp_path / "m", steps, records)
    result, doc = publish(args, "--format", "onnx", "--parity-tolerance", "1e-3")
    assert result.exit_code == 1 and doc["error"] == "OnnxParityError"
    assert gw.list_layer_versions(MODEL) == []


def test_parity_tolerance_is_refused_without_onnx_and_when_not_positive(
    gw, onnx_function, tmp_path
):
    steps, records, _ = onnx_models.text_ascii()
    args = save(tmp_path / "m", steps, records)
    result, doc = publish(args, "--format", "sklearn", "--parity-tolerance", "0.1")
    assert result.exit_code == 2 and "--format onnx only" in doc["message"]
    result, _ = publish(args, "--format", "onnx", "--parity-tolerance", "0")
    assert result.exit_code == 2
    assert gw.list_layer_versions(MODEL) == []
