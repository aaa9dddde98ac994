"""Class keys through publish-model and a cold start (issue 23, case 13).

GIVEN a classifier whose ``classes_`` are bool, int, a numpy integer or str, WHEN it is
published through the CLI with ``--sample`` (as pickles and as one ONNX graph) and the real
handler cold-starts on the published layer, THEN the self-check passes (the manifest's classes,
its samples' probability keys and the function's keys are one form: strings as they are, other
values as their JSON text, ``true``/``false`` for booleans) and results carry those keys and the
labels scikit-learn predicts, as JSON values of the class's own type.
"""

from __future__ import annotations

import io
import json
import sys
import zipfile
from pathlib import Path

import joblib
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from function_support import HandlerProcess, kinesis_event  # noqa: E402
from publish_support import BUCKET, create_function, live_model, publish_deps, run_cli  # noqa: E402

from mlayer.gateway import code_sha256_to_hex  # noqa: E402

pytestmark = pytest.mark.slow

TARGETS = {
    "bool": lambda y: y,
    "int": lambda y: y.astype(int) * 7 - 3,  # -3 and 4
    "uint8": lambda y: y.astype(np.uint8),
    "str": lambda y: np.where(y, "yes", "no"),
    "float": lambda y: y.astype(float) + 1.0,  # integral floats: scikit-learn takes no others
}
KEYS = {
    "bool": ["false", "true"],
    "int": ["-3", "4"],
    "uint8": ["0", "1"],
    "str": ["no", "yes"],
    "float": ["1.0", "2.0"],
}


def features_forest(kind: str):
    """StandardScaler -> forest on 3 numbers, the target as ``kind``; sample records."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(3)
    x = np.round(rng.normal(size=(300, 3)), 2)
    y = TARGETS[kind](x[:, 0] - x[:, 2] > 0)
    scaler = StandardScaler().fit(x)
    forest = RandomForestClassifier(n_estimators=25, max_depth=4, random_state=0)
    forest.fit(scaler.transform(x), y)
    records = [{"id": f"r{i}", "features": row} for i, row in enumerate(x[:30].tolist())]
    return [scaler, forest], records


def save(folder: Path, steps: list, records: list[dict]) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i, step in enumerate(steps):
        joblib.dump(step, folder / f"{i}.joblib")
        names.append(str(folder / f"{i}.joblib"))
    (folder / "sample.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    args = [names[-1]]
    for pre in names[:-1]:
        args += ["-p", pre]
    return [*args, "--sample", str(folder / "sample.jsonl"), "--input", "features"]


def unpack_live(gw, root: Path) -> Path:
    name, version = live_model(gw).split(":")[-2:]
    sha = code_sha256_to_hex(gw.get_layer_version(name, int(version))["Content"]["CodeSha256"])
    zipfile.ZipFile(io.BytesIO(gw.get_bytes(BUCKET, f"layers/{sha}.zip"))).extractall(root)
    return root / "mlayer"


def serve(model_dir: Path, deps: Path, runtime_dir: Path, workdir: Path, records: list[dict]):
    proc = HandlerProcess(  # raises InitError if the self-check refuses the samples
        model_dir=model_dir,
        deps_layer=deps,
        runtime_dir=runtime_dir,
        workdir=workdir,
        env={"MLAYER_OUTPUT_SINK": "stdout://"},
    )
    try:
        assert proc.invoke(kinesis_event(records)) == {"batchItemFailures": []}
    finally:
        proc.close()
    ids = {r["id"] for r in records}
    return [line for line in proc.log_lines() if line.get("id") in ids]


def check_published_and_served(gw, tmp_path, kind, deps, runtime_dir, *extra):
    steps, records = features_forest(kind)
    result, doc = run_cli("publish-model", *save(tmp_path / "m", steps, records), "--yes", *extra)
    assert result.exit_code == 0, result.output
    manifest = doc["manifest"]
    expected_classes = steps[-1].classes_.tolist()
    assert manifest["outputs"]["classes"] == expected_classes  # JSON values of the class's type
    assert all(sorted(s["probabilities"]) == KEYS[kind] for s in manifest["samples"])
    fresh = [{"id": f"k{i}", "features": [0.3 * i - 1.0, 0.5, 0.2 * i]} for i in range(8)]
    served = serve(unpack_live(gw, tmp_path / "opt"), deps, runtime_dir, tmp_path / "run", fresh)
    x = steps[0].transform(np.array([r["features"] for r in fresh]))
    assert [line["prediction"] for line in served] == steps[-1].predict(x).tolist()
    assert all(sorted(line["probabilities"]) == KEYS[kind] for line in served)


@pytest.mark.parametrize("kind", list(TARGETS))
def test_sklearn_classes_keep_one_key_form_through_publish_and_cold_start(
    gw, tmp_path, kind, deps_layer, runtime_dir
):
    create_function(gw, [publish_deps(gw)])
    check_published_and_served(gw, tmp_path, kind, deps_layer, runtime_dir)


@pytest.mark.parametrize("kind", list(TARGETS))
def test_onnx_classes_keep_one_key_form_through_publish_and_cold_start(
    gw, tmp_path, kind, runtime_dir, tmp_path_factory
):
    pytest.importorskip("skl2onnx")
    pytest.importorskip("onnxruntime")
    from test_publish_onnx import ONNX, publish_lock

    create_function(gw, [publish_lock(gw, ONNX, "onnx deps")])
    check_published_and_served(
        gw, tmp_path, kind, _onnx_layer(tmp_path_factory), runtime_dir, "--format", "onnx"
    )


def _onnx_layer(tmp_path_factory) -> Path:
    """An ONNX deps layer's python/ (numpy + onnxruntime, no scikit-learn), from this venv."""
    from test_onnx_function import ONNX_DEPS

    site = Path(np.__file__).resolve().parents[1]
    layer = tmp_path_factory.mktemp("onnx-deps")
    (layer / "python").mkdir()
    for name in ONNX_DEPS:
        if (site / name).exists():
            (layer / "python" / name).symlink_to(site / name)
    return layer
