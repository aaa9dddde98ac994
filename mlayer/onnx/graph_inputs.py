"""The ONNX graph's inputs, from the input kind and the manifest's input schema.

One string tensor ``text`` [N, 1] for text, one float tensor ``features`` [N, n_features] for
features, one [N, 1] tensor per column (float for numbers and booleans, string for strings)
for table: the function feeds records by these (function/mlayer_function/onnx_model.py).
skl2onnx's types are imported only when a graph is built.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from mlayer.onnx.errors import FALLBACK_HINT, OnnxConversionError
from mlayer.onnx.estimators import class_name

TEXT_INPUT = "text"
FEATURES_INPUT = "features"
COLUMN_KINDS = ("number", "string", "boolean")


@dataclass(frozen=True)
class OnnxInput:
    """One graph input: its name, element type (``float`` | ``double`` | ``string``), and
    column if table. ``double``: preprocessing before trees, fed float64 (tree_graph.py)."""

    name: str
    elem: str
    column: str | None = None
    width: int = 1

    def to_json(self) -> dict:
        return {"name": self.name, "elem": self.elem, "column": self.column, "width": self.width}


def schema_columns(columns: Any) -> list:
    """The column list of the manifest's ``input_schema`` ({"columns": [...]}) or a plain list."""
    if isinstance(columns, dict):
        return list(columns.get("columns") or [])
    return list(columns or [])


def column_specs(columns: Any) -> list[tuple[str, str]]:
    """(name, kind) pairs from the manifest's input_schema, its column dicts, objects or tuples."""
    out = []
    for col in schema_columns(columns):
        if isinstance(col, dict):
            name, kind = col.get("name"), col.get("kind")
        elif isinstance(col, (tuple, list)):
            name, kind = col[0], col[1]
        else:
            name, kind = getattr(col, "name", None), getattr(col, "kind", None)
        if kind == "datetime":
            raise OnnxConversionError(
                f"column {name!r} is a datetime: the ONNX format does not take datetime columns.",
                "Publish this model with --format sklearn.",
            )
        if not isinstance(name, str) or kind not in COLUMN_KINDS:
            raise OnnxConversionError(
                f"input column {col!r} has no name or an unknown kind (expected {COLUMN_KINDS}).",
                "This is mlayer's input schema; publish again with --input table.",
            )
        out.append((name, kind))
    return out


def initial_types(
    input_kind: str, steps: Sequence[Any], columns: Sequence[Any] | None, double: bool = False
) -> tuple[list[OnnxInput], list[tuple[str, Any]]]:
    """The graph's inputs; numbers in double when ``double`` (preprocessing before trees)."""
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, StringTensorType

    number, number_type = ("double", DoubleTensorType) if double else ("float", FloatTensorType)

    if input_kind == "text":
        return [OnnxInput(TEXT_INPUT, "string")], [(TEXT_INPUT, StringTensorType([None, 1]))]
    if input_kind == "features":
        width = getattr(steps[0], "n_features_in_", None)
        if width is None:
            raise OnnxConversionError(
                f"{class_name(steps[0])} does not say how many features it takes "
                "(no n_features_in_), so the graph's input cannot be sized.",
                FALLBACK_HINT,
                class_name(steps[0]),
            )
        width = int(width)
        inputs = [OnnxInput(FEATURES_INPUT, number, width=width)]
        return inputs, [(FEATURES_INPUT, number_type([None, width]))]
    specs = column_specs(columns or [])
    if not specs:
        raise OnnxConversionError(
            "a table model needs its input columns to be converted to ONNX.",
            "Publish with --input table so that the manifest records the columns.",
        )
    inputs, types = [], []
    for name, kind in specs:
        elem = "string" if kind == "string" else number
        inputs.append(OnnxInput(name, elem, column=name))
        types.append(
            (name, StringTensorType([None, 1]) if elem == "string" else number_type([None, 1]))
        )
    return inputs, types


def graph_names(inputs: list[OnnxInput], names: list[str]) -> list[OnnxInput]:
    """The inputs under the names the graph gave them: skl2onnx turns a column 'is active'
    into the input 'is_active' (the column stays what records carry)."""
    if len(names) != len(inputs):
        return inputs
    return [replace(i, name=name) for i, name in zip(inputs, names, strict=True)]
