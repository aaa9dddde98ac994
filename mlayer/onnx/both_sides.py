"""The parity gate's two sides: one batch predicted by scikit-learn as the function feeds it, and
by the function's own ONNX predictor loaded from the files mlayer ships.

The ONNX side is function/mlayer_function/onnx_model.py itself (imported by path under a
private package name, as the function is not an importable package of mlayer), so the gate
checks the feeding and label mapping Lambda will run. parity.py judges what the sides answer.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mlayer.onnx.convert import ConvertedModel
from mlayer.onnx.graph_inputs import column_specs
from mlayer.shipped import shipped_path

ONNX_FILE = "model.onnx"
_FUNCTION_PACKAGE = "_mlayer_shipped_function"


def function_onnx_module() -> Any:
    """function/mlayer_function/onnx_model.py as shipped, imported under a private name."""
    name = f"{_FUNCTION_PACKAGE}.onnx_model"
    if name in sys.modules:
        return sys.modules[name]
    folder = shipped_path("function", "mlayer_function")
    spec = importlib.util.spec_from_file_location(
        _FUNCTION_PACKAGE, folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    package = importlib.util.module_from_spec(spec)
    sys.modules[_FUNCTION_PACKAGE] = package
    spec.loader.exec_module(package)
    return importlib.import_module(name)


def parity_manifest(converted: ConvertedModel, size: int, sha256: str) -> dict:
    """The least manifest the function's loader reads (publish-model writes the full one)."""
    return {
        "schema_version": 1,
        "model_version": "parity-gate",
        "format": "onnx",
        "input_kind": converted.input_kind,
        "artifacts": [{"file": ONNX_FILE, "role": "model", "sha256": sha256, "size": size}],
        "outputs": {
            "predict": True,
            "predict_proba": converted.proba_output is not None,
            "classes": converted.classes,
        },
        "onnx": converted.manifest_block(),
    }


def best_ms(call: Callable[[], Any], repeat: int = 3) -> tuple[Any, float]:
    result = call()  # warm: first calls allocate
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        best = min(best, (time.perf_counter() - started) * 1000)
    return result, best


def sklearn_input(rows: list, input_kind: str, columns: Sequence[Any]) -> Any:
    """The batch as the sklearn function feeds the first artifact."""
    if input_kind == "features":
        import numpy as np

        return np.asarray(rows, dtype=np.float64)
    if input_kind == "table":  # as function/mlayer_function/tabular.py builds it: null -> NaN
        import numpy as np
        import pandas as pd

        specs = column_specs(columns)
        data = {}
        for name, kind in specs:
            values = [float("nan") if r[name] is None else r[name] for r in rows]
            if kind == "number":
                data[name] = np.array(values, dtype=np.float64)
            elif kind == "boolean" and all(r[name] is not None for r in rows):
                data[name] = np.array(values, dtype=bool)
            else:
                array = np.empty(len(values), dtype=object)
                array[:] = values
                data[name] = array
        return pd.DataFrame(data, columns=[n for n, _ in specs])
    return list(rows)


def sklearn_predict(pipeline: Any, x: Any, with_proba: bool) -> tuple[list, list | None]:
    """As the function does it: transform once, then the estimator's predict (and proba)."""
    if len(pipeline.steps) > 1:
        x = pipeline[:-1].transform(x)
    model = pipeline.steps[-1][1]
    raw = model.predict(x)
    if getattr(raw, "ndim", 1) == 2:  # a multi-output regressor: a list per record
        labels = raw.tolist() if raw.shape[1] > 1 else raw.ravel().tolist()
    else:
        labels = [_plain(v) for v in raw]
    proba = model.predict_proba(x).tolist() if with_proba else None
    return labels, proba


def _plain(value: Any) -> Any:
    item = getattr(value, "item", None)
    return item() if callable(item) and not isinstance(value, (str, bytes)) else value


def onnx_predict(converted: ConvertedModel, rows: list) -> tuple[Any, float, Any]:
    """((labels, probabilities), best ms, the class keys) from the function's own loader, fed
    the graph written to a temporary model folder as a model layer holds it."""
    module = function_onnx_module()
    with tempfile.TemporaryDirectory(prefix="mlayer-onnx-") as tmp:
        (Path(tmp) / ONNX_FILE).write_bytes(converted.onnx_bytes)
        manifest = parity_manifest(
            converted, len(converted.onnx_bytes), hashlib.sha256(converted.onnx_bytes).hexdigest()
        )
        model = module.load_onnx_model(
            tmp, manifest, environ={"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(module.VCPU_MB)}
        )
        ox, ox_ms = best_ms(lambda: model.predict(rows))
    return ox, ox_ms, model.class_keys
