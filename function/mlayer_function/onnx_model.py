"""Serve a model published with ``--format onnx``: one onnxruntime session, no scikit-learn.

Nothing is unpickled: the graph is data, and neither scikit-learn nor joblib is imported (the
ONNX deps layer has neither). OnnxModel is a serving.ServingModel, as modelstore's LoadedModel
is, so batch.py, the sinks and the dead letters treat both formats the same. The manifest's ``onnx`` block (written by
mlayer.onnx.convert) says which graph inputs to feed and which outputs to read.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .model_manifest import ModelIntegrityError, read_manifest, verify_file
from .serving import class_key, log_extra_fields

if TYPE_CHECKING:
    from .serving import PathText
    from .tabular import TableSchema

VCPU_MB = 1769  # Lambda gives one vCPU per 1,769 MB of memory
MAX_VCPUS = 6  # at 10,240 MB
PROBA_DECIMALS = 7  # float32 noise under 1e-7 is not written to the sinks


def threads_for_memory(memory_mb: object) -> int:
    """onnxruntime's intra-op threads for the function's memory (its vCPUs, at least 1)."""
    try:
        mb = int(str(memory_mb))
    except ValueError:
        return 1
    return max(1, min(MAX_VCPUS, round(mb / VCPU_MB)))


def _label_key(value: Any) -> object:  # a class as the manifest lists it
    """How skl2onnx writes a class in its label tensor: strings as they are, numbers as int64."""
    if isinstance(value, str):
        return value
    try:
        return int(value)  # bool and integral floats become int64 labels
    except (TypeError, ValueError):
        return value


def _dtype(spec: Mapping[str, Any]) -> Any:  # a numpy scalar type
    """The numpy type of a numeric input: ``double`` (preprocessing before trees, as
    scikit-learn computes it in float64) or ``float`` (float32)."""
    import numpy as np

    return np.float64 if spec.get("elem") == "double" else np.float32


class OnnxModel:
    """An ONNX graph as a serving.ServingModel: ``predict(rows) -> (labels, probas)``.
    (Not a dataclass: dataclasses and inspect cost a cold start.)"""

    def __init__(
        self,
        version: str,
        input_kind: str,
        n_features: int | None,
        session: Any,  # an onnxruntime.InferenceSession (untyped)
        inputs: list[dict[str, Any]],
        label_output: str,
        proba_output: str | None,
        class_keys: list[str] | None,
        labels: dict[Any, Any],  # the label tensor's values -> the classes as published
        manifest: dict[str, Any],
        load_ms: float = 0.0,
        table: TableSchema | None = None,  # a "table" model's columns (RowRules checks records)
        threads: int = 1,
        check_ms: float = 0.0,  # the manifest samples' self-check (modelstore.check_samples)
        phases: dict[str, Any] | None = None,  # modelstore.load_model's
    ) -> None:
        self.version, self.input_kind, self.n_features = version, input_kind, n_features
        self.session, self.inputs = session, inputs
        self.label_output, self.proba_output = label_output, proba_output
        self.class_keys, self.labels, self.manifest = class_keys, labels, manifest
        self.load_ms, self.table, self.threads, self.check_ms = load_ms, table, threads, check_ms
        self.phases: dict[str, Any] = {} if phases is None else phases

    @property
    def with_proba(self) -> bool:
        return self.proba_output is not None

    def feed(self, rows: list[Any]) -> dict[str, Any]:
        """The graph's inputs for a batch of decoded rows (text, feature lists, or table rows)."""
        import numpy as np

        if self.input_kind == "text":
            return {self.inputs[0]["name"]: np.array(rows, dtype=object).reshape(-1, 1)}
        if self.input_kind == "features":
            return {self.inputs[0]["name"]: np.asarray(rows, dtype=_dtype(self.inputs[0]))}
        out: dict[str, Any] = {}
        by_position = bool(rows) and not isinstance(rows[0], Mapping)  # tabular.py's tuples
        columns = list(zip(*rows, strict=True)) if by_position else []  # one pass for all inputs
        for pos, spec in enumerate(self.inputs):
            if by_position:
                values = columns[pos]
            else:
                name = spec.get("column") or spec["name"]
                values = tuple(row[name] for row in rows)
            if spec["elem"] == "string":  # a string tensor holds no null: "" stands for one
                column = np.array([v if isinstance(v, str) else "" for v in values], dtype=object)
            else:  # numbers and booleans as float() reads them; null (None, or NaN) -> NaN
                column = np.array(values, dtype=np.float64)  # then float32 as from float()
                if _dtype(spec) is not np.float64:
                    column = column.astype(np.float32)
            out[spec["name"]] = column.reshape(-1, 1)
        return out

    def predict(self, rows: list[Any]) -> tuple[list[Any], list[dict[str, Any]] | None]:
        """Labels (and per-class probabilities) for all rows in one session run."""
        import numpy as np

        if self.table is not None:
            log_extra_fields(self.table.take_extra_fields())
        wanted = [self.label_output] + ([self.proba_output] if self.proba_output else [])
        results = self.session.run(wanted, self.feed(rows))
        raw = np.asarray(results[0])
        labels: list[Any]
        if self.class_keys is None:  # a regressor: float32 values, written as float32 reads
            if raw.ndim == 2 and raw.shape[1] > 1:  # several outputs: a list per record
                labels = [[float(str(v)) for v in row] for row in raw]
            else:
                labels = [float(str(v)) for v in raw.reshape(-1)]
        else:
            labels = [self.labels.get(v, v) for v in raw.reshape(-1).tolist()]
        if len(labels) != len(rows):
            raise ValueError(f"the model returned {len(labels)} predictions for {len(rows)} rows")
        if not self.proba_output:
            return labels, None
        proba = np.round(np.asarray(results[1], dtype=np.float64), PROBA_DECIMALS).tolist()
        keys = self.class_keys or []  # set whenever proba_output is (load_onnx_model)
        return labels, [dict(zip(keys, row, strict=True)) for row in proba]


def make_session(graph: PathText, threads: int) -> Any:  # an onnxruntime.InferenceSession
    """One session per container: sequential, ``threads`` intra-op threads that never spin."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])


def load_onnx_model(
    model_dir: PathText,
    manifest: dict[str, Any] | None = None,
    *,
    started: float | None = None,
    table: TableSchema | None = None,
    environ: Mapping[str, str] = os.environ,
) -> OnnxModel:
    """Load the graph the manifest names. Pass ``manifest`` only once its files are verified."""
    started = time.perf_counter() if started is None else started
    model_dir = os.fspath(model_dir)
    if manifest is None:
        manifest = read_manifest(model_dir)
        for entry in manifest["artifacts"]:
            verify_file(os.path.join(model_dir, entry["file"]), entry["sha256"], entry.get("size"))
    block = manifest.get("onnx")
    if not isinstance(block, dict) or not block.get("inputs"):
        raise ModelIntegrityError("the manifest says format onnx but has no 'onnx' inputs block")
    graph = os.path.join(model_dir, manifest["artifacts"][-1]["file"])
    threads = threads_for_memory(environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1"))
    try:
        session = make_session(graph, threads)
    except ImportError as exc:
        raise ModelIntegrityError(
            f"this model is ONNX but onnxruntime does not import ({exc}): "
            "attach a dependencies layer built from layers/onnx/requirements.txt"
        ) from exc
    except Exception as exc:
        raise ModelIntegrityError(
            f"onnxruntime cannot load {os.path.basename(graph)}: {exc}"
        ) from exc
    names = {i.name for i in session.get_inputs()}
    missing = [spec["name"] for spec in block["inputs"] if spec["name"] not in names]
    if missing:
        raise ModelIntegrityError(f"the ONNX graph has no input {missing[0]!r}")
    outputs = block.get("outputs") or {}
    classes = (manifest.get("outputs") or {}).get("classes")
    with_proba = bool((manifest.get("outputs") or {}).get("predict_proba"))
    proba_output = outputs.get("probabilities") if with_proba else None
    if with_proba and (not proba_output or classes is None):
        raise ModelIntegrityError("the manifest promises probabilities the graph does not give")
    return OnnxModel(
        version=str(manifest["model_version"]),
        input_kind=manifest["input_kind"],
        n_features=manifest.get("n_features"),
        session=session,
        inputs=list(block["inputs"]),
        label_output=outputs.get("label") or "label",
        proba_output=proba_output,
        class_keys=[class_key(c) for c in classes] if classes is not None else None,
        labels={_label_key(c): c for c in classes} if classes is not None else {},
        manifest=manifest,
        load_ms=(time.perf_counter() - started) * 1000,
        table=table,
        threads=threads,
    )
