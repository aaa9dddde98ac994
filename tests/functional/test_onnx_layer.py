"""layers/onnx/requirements.txt built for python3.12 x86_64 by mlayer's pip builder (cached):
without onnxruntime's C API library and tool packages it still serves an ONNX model in a
python3.12 whose path is only the function and the layer; scikit-learn is not in it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("skl2onnx")

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

import onnx_models  # noqa: E402

from mlayer.build import BuildRequest, build_layer  # noqa: E402
from mlayer.build.runner import probe_version  # noqa: E402
from mlayer.build.slim_onnx import find_onnxruntime_unused  # noqa: E402
from mlayer.interpreters import find_python  # noqa: E402
from mlayer.onnx.convert import convert_pipeline  # noqa: E402

pytestmark = pytest.mark.slow

CHILD = """
import json, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
from mlayer_function.onnx_model import load_onnx_model
model = load_onnx_model(sys.argv[3])
labels, _ = model.predict(json.loads(sys.argv[4]))
import onnxruntime
print(json.dumps({"labels": labels, "ort": onnxruntime.__version__,
                  "modules": sorted({m.split(".")[0] for m in sys.modules})}))
"""


def test_slimmed_onnx_layer_serves_on_python312(tmp_path):
    python, _tried = find_python("3.12", probe_version)
    if python is None:
        pytest.skip("no python3.12 on this machine")
    build = build_layer(
        BuildRequest(
            REPO / "layers" / "onnx" / "requirements.txt",
            "python3.12",
            "x86_64",
            "pip",
            tmp_path / "out",
            cache_dir=REPO / ".cache" / "mlayer",
        )
    )
    assert set(build.packages) >= {"onnxruntime", "numpy"} and "scikit-learn" not in build.packages
    # build-deps' slimming dropped the C API library (and the tool packages), proven unused by
    # its import smoke test, and kept the step: the layer below serves without them
    step = next(s for s in build.slim_steps if s.name == "onnxruntime extras")
    assert step.status == "applied" and step.bytes_saved > 30 * 1024 * 1024, step
    tree = tmp_path / "python"
    shutil.copytree(build.tree, tree, symlinks=True)
    assert not list(tree.glob("onnxruntime/capi/libonnxruntime.so*"))
    assert find_onnxruntime_unused(tree) == []

    steps, records, _ = onnx_models.text_ascii()
    model_dir = onnx_models.write_onnx_layer(
        tmp_path / "opt", convert_pipeline(steps, "text"), input_kind="text"
    )
    texts = [r["text"] for r in records]
    done = subprocess.run(
        [python, "-I", "-S", "-B", "-c", CHILD, str(REPO / "function"), str(tree), str(model_dir)]
        + [json.dumps(texts)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    x = texts
    for step in steps[:-1]:
        x = step.transform(x)
    assert out["labels"] == steps[-1].predict(x).tolist() and out["ort"] == "1.32.0"
    assert not {"sklearn", "joblib", "scipy", "pandas"} & set(out["modules"])
