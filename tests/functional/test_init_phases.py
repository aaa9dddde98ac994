"""The cold start's "model loaded" line names each init phase, and a configuration that needs no
AWS client never imports boto3: the real handler in a fresh Python whose path is only Lambda's."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import joblib
import pytest

pytestmark = pytest.mark.slow

FUNCTION_DIR = Path(__file__).resolve().parents[2] / "function"
PHASES = ("manifest_ms", "verify_ms", "imports_ms", "load_ms", "self_check_ms")

CHILD = """
import json, os, sys
sys.path[:0] = json.loads(os.environ["LAMBDA_PATH"])
from mlayer_function import handler
sys.stderr.write(json.dumps({m: m in sys.modules for m in ("boto3", "botocore")}) + "\\n")
"""


def cold_start(model_dir: Path, deps_layer: Path, runtime_dir: Path, **env) -> tuple[dict, dict]:
    """(the "model loaded" line, which of boto3/botocore the cold start imported)."""
    lambda_path = [str(FUNCTION_DIR), str(deps_layer / "python"), str(runtime_dir)]
    done = subprocess.run(
        [sys.executable, "-S", "-E", "-c", CHILD],
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LAMBDA_PATH": json.dumps(lambda_path),
            "MLAYER_MODEL_DIR": str(model_dir),
            "AWS_DEFAULT_REGION": "us-east-1",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(ln) for ln in done.stdout.splitlines() if ln.startswith("{")]
    (loaded,) = [ln for ln in lines if ln.get("message") == "model loaded"]
    return loaded, json.loads(done.stderr.strip().splitlines()[-1])


def with_samples(model_dir: Path, dest: Path) -> Path:
    """A copy of the text model whose manifest keeps two samples, as publish-model does."""
    shutil.copytree(model_dir.parent, dest)
    folder = dest / model_dir.name
    manifest = json.loads((folder / "manifest.json").read_text())
    *steps, model = [joblib.load(folder / a["file"]) for a in manifest["artifacts"]]
    texts = ["win cash now", "see you at lunch"]
    x = texts
    for step in steps:
        x = step.transform(x)
    keys = [str(c) for c in model.classes_]
    manifest["samples"] = [
        {
            "record": {"id": f"s{i}", "text": text},
            "prediction": str(label),
            "probabilities": dict(zip(keys, map(float, proba), strict=True)),
        }
        for i, (text, label, proba) in enumerate(
            zip(texts, model.predict(x), model.predict_proba(x), strict=True)
        )
    ]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def test_model_loaded_line_names_every_init_phase(model_layers, deps_layer, runtime_dir, tmp_path):
    model_dir = with_samples(model_layers["text"], tmp_path / "opt")
    loaded, imported = cold_start(model_dir, deps_layer, runtime_dir)
    assert all(loaded[k] >= 0 for k in PHASES), loaded
    # the estimators' modules are imported before the unpickling, and counted apart from it
    assert loaded["imports_ms"] > loaded["load_ms"] > 0
    assert loaded["self_check_ms"] > 0  # two samples predicted
    assert loaded["runtime_start_ms"] is not None and loaded["runtime_start_ms"] >= 0
    in_init = sum(loaded[k] for k in PHASES if k != "imports_ms")
    assert in_init <= loaded["init_ms"]
    assert imported == {"boto3": False, "botocore": False}  # stdout sink, logged dead letters


def test_an_aws_sink_imports_boto3_at_init(model_layers, deps_layer, runtime_dir):
    loaded, imported = cold_start(
        model_layers["text"],
        deps_layer,
        runtime_dir,
        MLAYER_OUTPUT_SINK="sqs://out",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
    )
    assert loaded["output"].startswith("sqs://")
    assert imported == {"boto3": True, "botocore": True}
