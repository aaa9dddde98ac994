"""Load the published model once per container, and refuse any model that is not the published one.

The manifest (docs/FORMATS.md) is the whole contract with mlayer: this module reads it as
JSON and never imports mlayer. Every artifact's sha256 and size are checked before anything is
unpickled, so a truncated or swapped file fails the init instead of serving wrong predictions.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

SUPPORTED_SCHEMA = 1
INPUT_KINDS = ("text", "features", "record")
DEFAULT_MODEL_DIR = "/opt/mlayer"


class ModelIntegrityError(Exception):
    """The model on disk is missing, unreadable or differs from its manifest."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(model_dir: Path) -> dict:
    path = model_dir / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelIntegrityError(
            f"no model manifest at {path}: is the model layer attached (mlayer publish-model)?"
        ) from None
    except (OSError, ValueError) as exc:
        raise ModelIntegrityError(f"unreadable model manifest {path}: {exc}") from None
    if not isinstance(manifest, dict):
        raise ModelIntegrityError(f"model manifest {path} is not a JSON object")
    schema = manifest.get("schema_version")
    if schema != SUPPORTED_SCHEMA:
        raise ModelIntegrityError(
            f"model manifest schema_version {schema!r}: this function reads {SUPPORTED_SCHEMA}"
        )
    for key in ("model_version", "input_kind", "artifacts", "outputs"):
        if key not in manifest:
            raise ModelIntegrityError(f"model manifest {path} has no {key!r}")
    if manifest["input_kind"] not in INPUT_KINDS:
        raise ModelIntegrityError(
            f"model manifest input_kind {manifest['input_kind']!r}: expected one of {INPUT_KINDS}"
        )
    if not manifest["artifacts"]:
        raise ModelIntegrityError(f"model manifest {path} lists no artifacts")
    return manifest


def verify_file(path: Path, expected_sha256: str, expected_size: int | None) -> None:
    """Raise unless the file is byte for byte the one the manifest describes."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ModelIntegrityError(f"{path} is listed in the manifest but missing") from None
    if expected_size is not None and size != expected_size:
        raise ModelIntegrityError(
            f"{path}: size {size} differs from the manifest's {expected_size}; "
            "refusing to serve a model that is not the published one"
        )
    actual = sha256_of(path)
    if actual != expected_sha256:
        raise ModelIntegrityError(
            f"{path}: sha256 {actual[:12]}… differs from the manifest's "
            f"{str(expected_sha256)[:12]}…; refusing to serve a model that is not the published one"
        )


def plain(value: object) -> object:
    """A numpy scalar as the Python value json can write."""
    item = getattr(value, "item", None)
    return item() if callable(item) and not isinstance(value, (str, bytes)) else value


def class_key(value: object) -> str:
    """A class label as a JSON object key: strings as they are, other values as JSON text."""
    value = plain(value)
    return value if isinstance(value, str) else json.dumps(value)


@dataclass
class LoadedModel:
    """The pipeline in manifest order: preprocessors' transform, then the model's outputs."""

    version: str
    input_kind: str
    n_features: int | None
    preprocessors: list
    estimator: object
    with_proba: bool
    class_keys: list[str] | None
    manifest: dict = field(repr=False)
    load_ms: float = 0.0
    table: object = None  # tabular.TableSchema of a "table" model (RowRules checks records with it)

    def transform(self, rows: list) -> object:
        x = rows
        if self.input_kind == "features":
            import numpy as np

            x = np.asarray(rows, dtype=np.float64)
        for step in self.preprocessors:
            x = step.transform(x)
        return x

    def predict(self, rows: list) -> tuple[list, list[dict] | None]:
        """Labels (and per-class probabilities) for all rows in one vectorized call each."""
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
        keys = self.class_keys
        probas = [
            dict(zip(keys, row, strict=True)) for row in _as_list(self.estimator.predict_proba(x))
        ]
        return labels, probas


def _as_list(values: object) -> list:
    tolist = getattr(values, "tolist", None)
    return tolist() if callable(tolist) else list(values)


def load_model(model_dir: Path | str) -> LoadedModel:
    """Read, verify and unpickle the pipeline. Slow by nature: call once per container."""
    started = time.perf_counter()
    model_dir = Path(model_dir)
    manifest = read_manifest(model_dir)
    artifacts = manifest["artifacts"]
    for entry in artifacts:
        verify_file(model_dir / entry["file"], entry["sha256"], entry.get("size"))
    for entry in manifest.get("code") or []:
        verify_file(model_dir.parent / entry["file"], entry["sha256"], entry.get("size"))

    import joblib

    loaded = []
    for entry in artifacts:
        try:
            loaded.append(joblib.load(model_dir / entry["file"]))
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
        load_ms=(time.perf_counter() - started) * 1000,
    )
