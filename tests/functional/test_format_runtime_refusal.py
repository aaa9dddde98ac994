"""A deps layer without the model format's runtime is refused, whatever --allow-version-mismatch
says (issue 23, case 6; docs/FORMATS.md "format").

GIVEN a function whose deps layer has scikit-learn but no onnxruntime, WHEN an ONNX model is
published or rolled back to with ``--allow-version-mismatch``, THEN the CLI exits 1 with a
ModelError naming the missing runtime, and the function and the model layer are left exactly as
they were (before, the flag relinked it and the function failed every cold start).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("skl2onnx")
pytest.importorskip("onnxruntime")

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import onnx_models  # noqa: E402
from publish_support import MODEL, create_function, live_model, run_cli, snapshot  # noqa: E402
from test_publish_onnx import ONNX, SKLEARN, publish, publish_lock, save  # noqa: E402

pytestmark = pytest.mark.slow


def test_publishing_onnx_onto_a_deps_layer_without_onnxruntime_is_refused_even_when_allowed(
    gw, tmp_path
):
    create_function(gw, [publish_lock(gw, SKLEARN, "sklearn deps")])
    steps, records, _ = onnx_models.text_ascii()
    args = [*save(tmp_path / "m", steps, records), "--format", "onnx"]
    before = snapshot(gw)
    result, doc = publish(args, "--allow-version-mismatch")
    assert result.exit_code == 1, result.output
    assert doc["error"] == "ModelError" and "no onnxruntime" in doc["message"]
    assert "--allow-version-mismatch does not cover it" in doc["message"]
    assert "layers/onnx/requirements.txt" in doc["hint"]
    assert snapshot(gw) == before and gw.list_layer_versions(MODEL) == []


def test_rolling_back_to_onnx_on_a_deps_layer_without_onnxruntime_is_refused_even_when_allowed(
    gw, tmp_path
):
    both = publish_lock(gw, {**SKLEARN, **ONNX}, "both runtimes")
    create_function(gw, [both])
    steps, records, _ = onnx_models.text_ascii()
    args = save(tmp_path / "m", steps, records)
    result, sk = publish(args)
    assert result.exit_code == 0, result.output
    result, ox = publish(args, "--format", "onnx")
    assert result.exit_code == 0 and ox["format"] == "onnx", result.output
    assert run_cli("rollback", "--version", str(sk["version"]), "--yes")[0].exit_code == 0
    # someone moves the function onto a scikit-learn-only deps layer
    sklearn_only = publish_lock(gw, SKLEARN, "sklearn deps")
    gw.update_function_configuration(
        snapshot(gw)["FunctionName"], Layers=[sklearn_only, live_model(gw)]
    )
    before = snapshot(gw)
    result, doc = run_cli(
        "rollback", "--version", str(ox["version"]), "--allow-version-mismatch", "--yes"
    )
    assert result.exit_code == 1, result.output
    assert doc["error"] == "ModelError" and "no onnxruntime" in doc["message"]
    assert snapshot(gw) == before and live_model(gw) == sk["layer_version_arn"]


def test_deploy_function_moves_the_deps_under_a_live_onnx_model_only_when_allowed(gw, tmp_path):
    """The first step of a format switch on one function: refused without the flag, let
    through with it (and a warning), since the next step links a model of the new format."""
    create_function(gw, [publish_lock(gw, ONNX, "onnx deps")])
    steps, records, _ = onnx_models.text_ascii()
    result, doc = publish(save(tmp_path / "m", steps, records), "--format", "onnx")
    assert result.exit_code == 0 and doc["format"] == "onnx", result.output
    publish_lock(gw, SKLEARN, "sklearn deps")  # the newest deps version: deploy-function's pick
    before = snapshot(gw)
    result, doc = run_cli("deploy-function", "--yes")
    assert result.exit_code == 1 and doc["error"] == "ModelError", result.output
    assert (
        "no onnxruntime" in doc["message"]
        and "deploy-function --allow-version-mismatch" in (doc["hint"])
    )
    assert snapshot(gw) == before
    result, doc = run_cli("deploy-function", "--allow-version-mismatch", "--dry-run")
    assert result.exit_code == 0, result.output
    assert any("no onnxruntime" in n and "cannot load" in n for n in doc["notes"])
    assert snapshot(gw) == before
