"""Turn the pipeline mlayer loads (preprocessors then the model) into one ONNX graph.

The graph's inputs follow the input kind, so the function can feed records without
scikit-learn: one string tensor ``text`` [N, 1] for text, one float tensor ``features``
[N, n_features] for features, one [N, 1] tensor per column (float for numbers and booleans,
string for strings) for table. Classifiers output ``label`` and a plain ``probabilities``
matrix (no ZipMap: a list of dicts is slow to build and to read). skl2onnx and onnx are imported
here only, lazily: the rest of mlayer runs without the ``onnx`` extra.
"""

from __future__ import annotations

import importlib.metadata
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from mlayer.onnx.errors import FALLBACK_HINT, OnnxConversionError, OnnxUnavailableError
from mlayer.onnx.tree_graph import double_graph_or_none, wants_double_preprocessing

ONNX_INPUT_KINDS = ("text", "features", "table")
DEFAULT_LOCALE = "C.UTF-8"  # onnxruntime's StringNormalizer fails on en_US.UTF-8 where absent
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


@dataclass(frozen=True)
class ConvertedModel:
    """The graph's bytes and what the function needs to feed it and read its outputs."""

    onnx_bytes: bytes
    input_kind: str
    inputs: tuple[OnnxInput, ...]
    label_output: str
    proba_output: str | None
    classes: list | None
    opsets: dict[str, int]
    estimators: tuple[str, ...]
    versions: dict[str, str]

    @property
    def is_classifier(self) -> bool:
        return self.classes is not None

    def manifest_block(self) -> dict:
        """The manifest's ``onnx`` object (docs/FORMATS.md): read by function/onnx_model.py."""
        return {
            "inputs": [i.to_json() for i in self.inputs],
            "outputs": {"label": self.label_output, "probabilities": self.proba_output},
            "opsets": dict(self.opsets),
            "estimators": list(self.estimators),
            "converted_with": dict(self.versions),
        }


def require_onnx_tools() -> None:
    """Refuse early, with the install line, when the ``onnx`` extra is missing."""
    missing = []
    for dist in ("skl2onnx", "onnxruntime", "onnx"):
        try:
            importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            missing.append(dist)
    if missing:
        raise OnnxUnavailableError(
            f"--format onnx needs {', '.join(missing)}, which are not installed here.",
            "pip install 'mlayer[onnx]' (python 3.11+), or publish with --format sklearn.",
        )


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


def walk_estimators(obj: Any) -> Iterator[Any]:
    """Every estimator inside ``obj``, itself first: pipelines, column transformers, unions."""
    yield obj
    children: list = []
    if hasattr(obj, "steps") and isinstance(obj.steps, list):
        children = [step for _, step in obj.steps]
    elif hasattr(obj, "transformers_"):
        children = [t for _, t, _ in obj.transformers_]
    elif hasattr(obj, "transformer_list"):
        children = [t for _, t in obj.transformer_list]
    for child in children:
        if child not in ("drop", "passthrough") and child is not None:
            yield from walk_estimators(child)


def final_estimator(obj: Any) -> Any:
    while hasattr(obj, "steps") and isinstance(obj.steps, list):
        obj = obj.steps[-1][1]
    return obj


def class_name(obj: Any) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def _initial_types(
    input_kind: str, steps: Sequence[Any], columns: Sequence[Any] | None, double: bool = False
):
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


def _allowed_options(est: Any) -> dict:
    """The options skl2onnx's converter for ``est`` accepts (LinearSVC's has no zipmap)."""
    from skl2onnx._supported_operators import sklearn_operator_name_map
    from skl2onnx.common._registration import get_converter

    try:
        return get_converter(sklearn_operator_name_map[type(est)]).get_allowed_options() or {}
    except (KeyError, ValueError, AttributeError):
        return {}


def _options(pipeline: Any, locale: str) -> dict:
    options: dict = {}
    model = final_estimator(pipeline)
    for est in walk_estimators(pipeline):
        allowed = _allowed_options(est)
        wanted = {}
        if est is model and "zipmap" in allowed and hasattr(est, "classes_"):
            wanted["zipmap"] = False
        if "locale" in allowed:  # CountVectorizer, TfidfVectorizer: their StringNormalizer
            wanted["locale"] = locale
        if wanted:
            options[id(est)] = wanted
    return options


def _unsupported(pipeline: Any) -> list[str]:
    """Estimators in the pipeline that skl2onnx has no converter for."""
    from skl2onnx._supported_operators import sklearn_operator_name_map
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import FeatureUnion, Pipeline

    containers = (Pipeline, ColumnTransformer, FeatureUnion)
    return [
        class_name(est)
        for est in walk_estimators(pipeline)
        if not isinstance(est, containers) and type(est) not in sklearn_operator_name_map
    ]


def _failing_estimator(exc: BaseException) -> str | None:
    """The sklearn object whose converter raised, found in the traceback's ``operator``."""
    tb = exc.__traceback__
    found = None
    while tb is not None:
        op = tb.tb_frame.f_locals.get("operator")
        raw = getattr(op, "raw_operator", None)
        if raw is not None:
            found = class_name(raw)
        tb = tb.tb_next
    return found


def _free_batch_dim(model: Any) -> None:
    """skl2onnx fixes some outputs' first dimension to 1; the batch is any size."""
    for value in [*model.graph.input, *model.graph.output]:
        shape = value.type.tensor_type.shape
        if len(shape.dim):
            shape.dim[0].dim_param = "N"


def _versions() -> dict[str, str]:
    out = {}
    for dist in ("skl2onnx", "onnx", "onnxruntime", "scikit-learn"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def as_pipeline(steps: Sequence[Any]) -> Any:
    """The artifacts, applied in order, as one scikit-learn Pipeline (already fitted)."""
    from sklearn.pipeline import Pipeline

    if len(steps) == 1 and isinstance(steps[0], Pipeline):
        return steps[0]
    return Pipeline([(f"step{i}", step) for i, step in enumerate(steps)])


def convert_pipeline(
    steps: Sequence[Any],
    input_kind: str,
    *,
    columns: Sequence[Any] | None = None,
    with_proba: bool | None = None,
    locale: str = DEFAULT_LOCALE,
    target_opset: int | None = None,
    float32_trees: bool = False,
) -> ConvertedModel:
    """One ONNX graph for the whole pipeline, or OnnxConversionError naming the estimator.

    ``float32_trees``: preprocessing before trees in float32 too (the conversion before issue
    23; benchmarks/bench_onnx_trees.py's baseline)."""
    require_onnx_tools()
    if input_kind not in ONNX_INPUT_KINDS:
        raise OnnxConversionError(
            f"input kind {input_kind!r} cannot be fed to an ONNX graph "
            f"(it takes {', '.join(ONNX_INPUT_KINDS)}).",
            "Use --input table for records with named fields, or --format sklearn.",
        )
    if not steps:
        raise OnnxConversionError("the pipeline has no artifacts.", FALLBACK_HINT)
    from skl2onnx import convert_sklearn

    pipeline = as_pipeline(steps)
    missing = _unsupported(pipeline)
    if missing:
        raise OnnxConversionError(
            f"skl2onnx has no converter for {missing[0]}"
            + (f" (nor for {', '.join(missing[1:])})" if len(missing) > 1 else "")
            + ": the pipeline cannot be served as ONNX.",
            FALLBACK_HINT,
            missing[0],
        )
    double = wants_double_preprocessing(pipeline) and not float32_trees
    inputs, initial_types = _initial_types(input_kind, steps, columns, double)
    options = _options(pipeline, locale)
    model = None
    if double:  # scikit-learn's arithmetic: float64 preprocessing, float32 trees
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = double_graph_or_none(pipeline, initial_types, options, target_opset)
        if model is None:
            inputs, initial_types = _initial_types(input_kind, steps, columns)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if model is None:
                model = convert_sklearn(
                    pipeline,
                    initial_types=initial_types,
                    options=options,
                    target_opset=target_opset,
                    name="mlayer",  # not skl2onnx's random uuid: the same pipeline, the same bytes
                )
    except Exception as exc:
        culprit = _failing_estimator(exc) or class_name(final_estimator(pipeline))
        first_line = (str(exc).strip().splitlines() or [""])[0][:300]
        raise OnnxConversionError(
            f"skl2onnx failed to convert {culprit}: {type(exc).__name__}: {first_line}",
            FALLBACK_HINT,
            culprit,
        ) from exc
    _free_batch_dim(model)
    inputs = _graph_names(inputs, [i.name for i in model.graph.input])
    outputs = [o.name for o in model.graph.output]
    model_obj = final_estimator(pipeline)
    classes = getattr(model_obj, "classes_", None)
    if with_proba is None:
        with_proba = classes is not None and callable(getattr(model_obj, "predict_proba", None))
    if with_proba and (classes is None or len(outputs) < 2):
        raise OnnxConversionError(
            f"the graph of {class_name(model_obj)} has no probabilities output.",
            FALLBACK_HINT,
            class_name(model_obj),
        )
    proba = outputs[1] if with_proba else None
    return ConvertedModel(
        onnx_bytes=model.SerializeToString(),
        input_kind=input_kind,
        inputs=tuple(inputs),
        label_output=outputs[0],
        proba_output=proba,
        classes=[_plain(c) for c in classes] if classes is not None else None,
        opsets={(o.domain or "ai.onnx"): int(o.version) for o in model.opset_import},
        estimators=tuple(class_name(e) for e in walk_estimators(pipeline)),
        versions=_versions(),
    )


def _graph_names(inputs: list[OnnxInput], names: list[str]) -> list[OnnxInput]:
    """The inputs under the names the graph gave them: skl2onnx turns a column 'is active'
    into the input 'is_active' (the column stays what records carry)."""
    if len(names) != len(inputs):
        return inputs
    return [replace(i, name=name) for i, name in zip(inputs, names, strict=True)]


def _plain(value: Any) -> Any:
    if isinstance(value, str):
        return str(value)  # np.str_ too
    item = getattr(value, "item", None)
    return item() if callable(item) and not isinstance(value, (str, bytes)) else value
