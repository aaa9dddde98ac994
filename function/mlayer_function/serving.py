"""What the function serves: one interface for a scikit-learn model and an ONNX graph alike.

``ServingModel`` is what handler.py, batch.py, the self-check and a shadow use of a loaded
model; modelstore.LoadedModel (scikit-learn) and onnx_model.OnnxModel (onnxruntime) implement
it. What their outputs share is here too: class labels as JSON keys, plain Python values.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any, Protocol

from . import telemetry

if TYPE_CHECKING:
    import os

    from .tabular import TableSchema

    PathText = str | os.PathLike[str]  # a folder or file as os.path takes it (pathlib: not loaded)


class ServingModel(Protocol):
    """A loaded, verified model: its manifest's facts and one vectorized ``predict``."""

    version: str
    input_kind: str
    n_features: int | None
    class_keys: list[str] | None  # a classifier's classes as JSON keys, else None
    manifest: dict[str, Any]
    table: TableSchema | None  # a "table" model's columns (RowRules checks records with it)
    load_ms: float
    check_ms: float  # what predicting the manifest's samples took at load
    phases: dict[str, Any]  # load_model's steps, ms (the "model loaded" line)

    @property
    def with_proba(self) -> bool: ...

    def predict(self, rows: list[Any]) -> tuple[list[Any], list[dict[str, Any]] | None]:
        """Labels (and per-class probabilities) for all rows in one call."""
        ...


def plain(value: object) -> object:
    """A numpy scalar as the Python value json can write; a str subclass (numpy.str_, as
    ``classes_`` holds) as a plain str, which orjson writes without falling back."""
    if isinstance(value, str):
        return value if type(value) is str else str.__str__(value)
    item = getattr(value, "item", None)
    return item() if callable(item) and not isinstance(value, bytes) else value


def class_key(value: object) -> str:
    """A class label as a JSON object key: strings as they are, other values as JSON text."""
    value = plain(value)
    return value if isinstance(value, str) else json.dumps(value)


def log_extra_fields(extra: dict[str, int]) -> None:
    """Fields of a batch's records that are not columns: ignored, said once per batch."""
    if extra:
        sys.stdout.write(
            telemetry.log_line("INFO", "fields that are not columns were ignored", fields=extra)
            + "\n"
        )
