"""Multi-output regressors through publish-model --sample and a cold start (issue 23, case 4).

GIVEN a regressor fitted on a target of several columns (its predict returns one row of k
values per record), WHEN it is published through the CLI with ``--sample`` (as pickles, and as
one ONNX graph), THEN the manifest's samples hold a list of k numbers per record, the real
handler's self-check reproduces them at cold start, and each result's ``prediction`` is the
list scikit-learn predicts for the record.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from publish_support import create_function, publish_deps, run_cli  # noqa: E402
from test_class_keys import save, serve, unpack_live  # noqa: E402

pytestmark = pytest.mark.slow
FRESH = [{"id": f"k{i}", "features": [0.25 * i - 1.0, 0.5, -0.1 * i]} for i in range(6)]


def regressor(name: str):
    """StandardScaler -> a regressor of 3 targets on 3 numbers; 12 sample records."""
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.linear_model import LinearRegression
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(5)
    x = np.round(rng.normal(size=(200, 3)), 2)
    y = np.column_stack([x[:, 0] + x[:, 1], x[:, 1] * 2.0 - x[:, 2], np.abs(x[:, 2])])
    scaler = StandardScaler().fit(x)
    model = (
        LinearRegression()
        if name == "linear"
        else RandomForestRegressor(n_estimators=10, max_depth=5, random_state=0)
    )
    model.fit(scaler.transform(x), y)
    records = [{"id": f"r{i}", "features": row} for i, row in enumerate(x[:12].tolist())]
    return [scaler, model], records


def expected(steps) -> np.ndarray:
    return steps[-1].predict(steps[0].transform(np.array([r["features"] for r in FRESH])))


@pytest.mark.parametrize("name", ["linear", "forest"])
def test_a_multi_output_regressor_publishes_samples_and_serves_a_list_per_record(
    gw, tmp_path, name, deps_layer, runtime_dir
):
    create_function(gw, [publish_deps(gw)])
    steps, records = regressor(name)
    result, doc = run_cli("publish-model", *save(tmp_path / "m", steps, records), "--yes")
    assert result.exit_code == 0, result.output
    samples = doc["manifest"]["samples"]
    assert len(samples) == 12 and all(len(s["prediction"]) == 3 for s in samples)
    first = steps[-1].predict(steps[0].transform(np.array([records[0]["features"]])))[0]
    assert samples[0]["prediction"] == first.tolist()
    served = serve(
        unpack_live(gw, tmp_path / "opt"), deps_layer, runtime_dir, tmp_path / "run", FRESH
    )
    assert [line["prediction"] for line in served] == expected(steps).tolist()


def test_a_multi_output_regressor_publishes_as_onnx_and_serves_a_list_per_record(
    gw, tmp_path, runtime_dir, tmp_path_factory
):
    pytest.importorskip("skl2onnx")
    pytest.importorskip("onnxruntime")
    from test_class_keys import _onnx_layer
    from test_publish_onnx import ONNX, publish_lock

    create_function(gw, [publish_lock(gw, ONNX, "onnx deps")])
    steps, records = regressor("linear")
    args = [*save(tmp_path / "m", steps, records), "--yes", "--format", "onnx"]
    result, doc = run_cli("publish-model", *args)
    assert result.exit_code == 0, result.output
    assert doc["parity"]["max_value_diff"] < 1e-4
    assert all(len(s["prediction"]) == 3 for s in doc["manifest"]["samples"])
    layer = _onnx_layer(tmp_path_factory)
    served = serve(unpack_live(gw, tmp_path / "opt"), layer, runtime_dir, tmp_path / "run", FRESH)
    got = np.array([line["prediction"] for line in served])
    assert got.shape == (len(FRESH), 3)
    assert np.allclose(got, expected(steps), atol=1e-4, rtol=1e-5)
