"""Load the published model once per container, and refuse any model that is not the published one.

The manifest (docs/FORMATS.md) is the whole contract with mlayer: this module reads it as
JSON and never imports mlayer. Every artifact's sha256 and size are checked before anything is
unpickled, so a truncated or swapped file fails the init instead of serving wrong predictions.
"""

from __future__ import annotations

import math
import os
import sys
import time
from typing import TYPE_CHECKING, Any

from .decoding import BadRecord, RowRules, to_row
from .model_manifest import SUPPORTED_SCHEMA as SUPPORTED_SCHEMA
from .model_manifest import ModelIntegrityError as ModelIntegrityError
from .model_manifest import read_manifest as read_manifest
from .model_manifest import sha256_of as sha256_of
from .model_manifest import verify_file as verify_file
from .serving import ServingModel as ServingModel
from .serving import class_key as class_key
from .serving import log_extra_fields
from .serving import plain as plain

if TYPE_CHECKING:
    from .serving import PathText
    from .tabular import TableSchema

DEFAULT_MODEL_DIR = "/opt/mlayer"
# How far a sample's number (a regression output, a probability) may move and still count as
# reproduced: floating-point sums differ in their last bits between CPUs and BLAS builds.
SAMPLE_TOLERANCE = 1e-6


class LoadedModel:
    """A scikit-learn ServingModel: the pipeline in manifest order, preprocessors' transform,
    then the model's outputs. (Not a dataclass: dataclasses and inspect cost a cold start.)"""

    def __init__(
        self,
        version: str,
        input_kind: str,
        n_features: int | None,
        preprocessors: list[Any],
        estimator: Any,  # a scikit-learn estimator (untyped)
        with_proba: bool,
        class_keys: list[str] | None,
        manifest: dict[str, Any],
        load_ms: float = 0.0,
        table: TableSchema | None = None,
        check_ms: float = 0.0,
        phases: dict[str, Any] | None = None,
    ) -> None:
        self.version, self.input_kind, self.n_features = version, input_kind, n_features
        self.preprocessors, self.estimator = preprocessors, estimator
        self.with_proba, self.class_keys, self.manifest = with_proba, class_keys, manifest
        self.load_ms = load_ms
        # tabular.TableSchema of a "table" model (RowRules checks records with it)
        self.table = table
        self.check_ms = check_ms  # what predicting the manifest's samples took at load (in load_ms)
        self.phases: dict[str, Any] = {} if phases is None else phases  # load_model's steps, ms

    def transform(self, rows: list[Any]) -> object:
        x: Any = rows  # then an array, a DataFrame, each step's output
        if self.table is not None:
            x = self.table.frame(rows)
        elif self.input_kind == "features":
            import numpy as np

            x = np.asarray(rows, dtype=np.float64)
        for step in self.preprocessors:
            x = step.transform(x)
        return x

    def predict(self, rows: list[Any]) -> tuple[list[Any], list[dict[str, Any]] | None]:
        """Labels (and per-class probabilities) for all rows in one vectorized call each."""
        if self.table is not None:
            log_extra_fields(self.table.take_extra_fields())
        x = self.transform(rows)
        raw = self.estimator.predict(x)
        labels = _as_list(raw)
        dtype = getattr(raw, "dtype", None)
        if dtype is None or dtype.kind == "O":  # tolist() leaves numpy scalars in these
            labels = [plain(v) for v in labels]
        if len(labels) != len(rows):
            raise ValueError(f"the model returned {len(labels)} predictions for {len(rows)} rows")
        if not self.with_proba:
            return labels, None
        keys: list[str] = self.class_keys  # type: ignore[assignment]  # set when with_proba
        probas = [
            dict(zip(keys, row, strict=True)) for row in _as_list(self.estimator.predict_proba(x))
        ]
        return labels, probas


def _as_list(values: object) -> list[Any]:
    tolist = getattr(values, "tolist", None)
    listed: list[Any] = tolist() if callable(tolist) else list(values)  # type: ignore[call-overload]  # values: an array or an iterable
    return listed


def _table_schema(manifest: dict[str, Any]) -> TableSchema:
    """The manifest's input_schema as a tabular.TableSchema (imports pandas: table models only)."""
    try:
        from .tabular import TableSchema

        frames = manifest.get("format", "sklearn") != "onnx"  # ONNX takes row tuples
        return TableSchema.from_manifest(manifest.get("input_schema"), frames)
    except ImportError as exc:
        raise ModelIntegrityError(
            f"a table model needs pandas in the dependencies layer ({exc}); "
            "build it from layers/sklearn-pandas/requirements.txt"
        ) from exc
    except ValueError as exc:
        raise ModelIntegrityError(f"model manifest: {exc}") from None


def _same(expected: object, got: object) -> bool:
    if isinstance(expected, list) and isinstance(got, list):  # a multi-output model's row
        return len(expected) == len(got) and all(map(_same, expected, got))
    numbers = (int, float)
    if (
        isinstance(expected, numbers)
        and isinstance(got, numbers)
        and not isinstance(expected, bool)
        and not isinstance(got, bool)
    ):
        return math.isclose(expected, got, rel_tol=SAMPLE_TOLERANCE, abs_tol=SAMPLE_TOLERANCE)
    return expected == got


def _differs(sample: dict[str, Any], label: object, probas: dict[str, Any] | None) -> str | None:
    """What in one sample's outputs was not reproduced, or None."""
    if not _same(sample.get("prediction"), label):
        return f"predicted {label!r}, published {sample.get('prediction')!r}"
    expected = sample.get("probabilities")
    if expected is not None:
        if probas is None or set(probas) != set(expected):
            return f"probabilities for {sorted(probas or {})}, published for {sorted(expected)}"
        for key, value in expected.items():
            if not _same(value, probas[key]):
                return f"P({key}) = {probas[key]!r}, published {value!r}"
    return None


def check_samples(model: ServingModel, samples: list[Any]) -> None:
    """Predict the samples kept at publish; raise naming the first record not reproduced.

    The last line of defence against a dependencies layer or an architecture that loads the
    model but predicts differently: better an init error than wrong predictions served.
    """
    rules = RowRules(model.input_kind, model.n_features, sys.maxsize, table=model.table)
    rows = []
    for sample in samples:
        record = sample.get("record") if isinstance(sample, dict) else None
        try:
            rows.append(to_row(record, rules)[1])
        except BadRecord as exc:
            raise ModelIntegrityError(
                f"self-check: sample record {_sample_id(record)} is not a valid record "
                f"here: {exc.reason}; refusing to serve"
            ) from None
    if model.table is not None:
        model.table.take_extra_fields()  # the samples' extra fields are not a batch's
    try:
        labels, probas = model.predict(rows)
    except Exception as exc:
        raise ModelIntegrityError(
            f"self-check: predicting the {len(rows)} sample records failed: "
            f"{type(exc).__name__}: {exc}; refusing to serve"
        ) from exc
    for i, sample in enumerate(samples):
        why = _differs(sample, labels[i], probas[i] if probas is not None else None)
        if why:
            raise ModelIntegrityError(
                f"self-check: sample record {_sample_id(sample['record'])} is not reproduced: "
                f"{why}; this dependencies layer or architecture predicts differently from "
                "publish time: refusing to serve"
            )


def _sample_id(record: object) -> str:
    return repr(record.get("id")) if isinstance(record, dict) else repr(record)


def load_model(model_dir: PathText) -> ServingModel:
    """Read, verify and load the model, then check its samples. Call once per container.

    Each step's ms lands in ``model.phases`` (manifest, verify, imports, load, self_check), which
    the "model loaded" line carries: a slow cold start names its step."""
    started = time.perf_counter()
    clock = _Phases(started)
    model_dir = os.fspath(model_dir)
    manifest = read_manifest(model_dir)
    clock.lap("manifest_ms")
    paths, verified = _materialize(manifest, model_dir)
    for entry in manifest["artifacts"]:
        if entry["file"] not in verified:
            verify_file(os.path.join(model_dir, entry["file"]), entry["sha256"], entry.get("size"))
    code_dir = os.path.dirname(os.path.normpath(model_dir))  # the model layer's /opt
    for entry in manifest.get("code") or []:
        verify_file(os.path.join(code_dir, entry["file"]), entry["sha256"], entry.get("size"))
    clock.lap("verify_ms")
    table = _table_schema(manifest) if manifest["input_kind"] == "table" else None
    _import_model_modules(manifest)
    clock.lap("imports_ms")
    model: ServingModel
    if manifest.get("format") == "onnx":
        from .onnx_model import load_onnx_model

        model = load_onnx_model(model_dir, manifest, started=started, table=table)
    else:
        model = _load_sklearn(paths, manifest, table)
    clock.lap("load_ms")
    samples = manifest.get("samples") or []
    if samples:
        check_samples(model, samples)
    model.check_ms = clock.lap("self_check_ms")
    model.load_ms = (time.perf_counter() - started) * 1000
    model.phases = clock.laps
    return model


def _materialize(manifest: dict[str, Any], model_dir: str) -> tuple[dict[str, PathText], set[str]]:
    """Each artifact's local path, and those already verified (S3-stored ones, fetched into
    /tmp by fetch.py). fetch and what it imports (threads, tempfile, boto3) load only for a
    model with S3-stored artifacts (``"store": "s3"``, docs/FORMATS.md): a cold start's cost."""
    if any(entry.get("store") == "s3" for entry in manifest["artifacts"]):
        from . import fetch

        fetched = fetch.materialize(manifest, model_dir)
        return dict(fetched.paths), fetched.verified
    return {e["file"]: os.path.join(model_dir, e["file"]) for e in manifest["artifacts"]}, set()


class _Phases:
    """Consecutive laps of one clock, in ms."""

    laps: dict[str, float]

    def __init__(self, started: float) -> None:
        self.last, self.laps = started, {}

    def lap(self, name: str) -> float:
        now = time.perf_counter()
        self.laps[name] = (now - self.last) * 1000
        self.last = now
        return self.laps[name]


def _import_model_modules(manifest: dict[str, Any]) -> None:
    """The loader and the modules the artifacts' classes live in, before anything is loaded,
    so the log tells importing (paid once per runtime) from unpickling (paid per model)."""
    import importlib

    if manifest.get("format") == "onnx":
        names = ["onnxruntime"]
    else:
        names = ["joblib"] + [
            str(a["class"]).rpartition(".")[0] for a in manifest["artifacts"] if a.get("class")
        ]
    for name in dict.fromkeys(n for n in names if n):
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the load step re-imports it and names the failure
            pass


def _load_sklearn(
    paths: dict[str, PathText], manifest: dict[str, Any], table: TableSchema | None
) -> LoadedModel:
    """Unpickle the artifacts (already verified) into the pipeline the manifest describes."""
    import joblib

    artifacts = manifest["artifacts"]
    loaded = []
    for entry in artifacts:
        try:
            loaded.append(joblib.load(paths[entry["file"]]))
        except Exception as exc:
            raise ModelIntegrityError(
                f"cannot load {entry['file']}: {type(exc).__name__}: {exc}"
            ) from exc
    *preprocessors, estimator = loaded
    outputs = manifest.get("outputs") or {}
    with_proba = bool(outputs.get("predict_proba"))
    if with_proba and not hasattr(estimator, "predict_proba"):
        raise ModelIntegrityError(
            f"the manifest promises predict_proba but {type(estimator).__name__} has none"
        )
    classes = getattr(estimator, "classes_", None)
    if classes is None:
        classes = outputs.get("classes")
    class_keys = [class_key(c) for c in classes] if classes is not None else None
    if with_proba and class_keys is None:
        raise ModelIntegrityError("the manifest promises predict_proba but names no classes")
    return LoadedModel(
        version=str(manifest["model_version"]),
        input_kind=manifest["input_kind"],
        n_features=manifest.get("n_features"),
        preprocessors=preprocessors,
        estimator=estimator,
        with_proba=with_proba,
        class_keys=class_keys,
        manifest=manifest,
        table=table,
    )
