"""Turn the pipeline mlayer loads (preprocessors then the model) into one ONNX graph.

The graph's inputs follow the input kind (graph_inputs.py), so the function can feed records
without scikit-learn; an estimator skl2onnx cannot take is named (estimators.py). Classifiers
output ``label`` and a plain ``probabilities`` matrix (no ZipMap: a list of dicts is slow to
build and to read). skl2onnx and onnx are imported lazily: the rest of mlayer runs without the
``onnx`` extra.
"""

from __future__ import annotations

import importlib.metadata
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mlayer.onnx.errors import FALLBACK_HINT, OnnxConversionError, OnnxUnavailableError
from mlayer.onnx.estimators import (
    as_pipeline,
    class_name,
    converter_options,
    failing_estimator,
    final_estimator,
    unsupported,
    walk_estimators,
)
from mlayer.onnx.graph_inputs import OnnxInput, graph_names, initial_types
from mlayer.onnx.tree_graph import double_graph_or_none, wants_double_preprocessing

ONNX_INPUT_KINDS = ("text", "features", "table")
DEFAULT_LOCALE = "C.UTF-8"  # onnxruntime's StringNormalizer fails on en_US.UTF-8 where absent


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
    pipeline = _convertible(steps, input_kind)
    double = wants_double_preprocessing(pipeline) and not float32_trees
    inputs, types = initial_types(input_kind, steps, columns, double)
    options = converter_options(pipeline, locale)
    model = None
    if double:  # scikit-learn's arithmetic: float64 preprocessing, float32 trees
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = double_graph_or_none(pipeline, types, options, target_opset)
        if model is None:
            inputs, types = initial_types(input_kind, steps, columns)
    if model is None:
        model = _convert(pipeline, types, options, target_opset)
    _free_batch_dim(model)
    inputs = graph_names(inputs, [i.name for i in model.graph.input])
    return _converted(model, pipeline, input_kind, inputs, with_proba)


def _convertible(steps: Sequence[Any], input_kind: str) -> Any:
    """The steps as one Pipeline, refused before converting when skl2onnx cannot take it."""
    if input_kind not in ONNX_INPUT_KINDS:
        raise OnnxConversionError(
            f"input kind {input_kind!r} cannot be fed to an ONNX graph "
            f"(it takes {', '.join(ONNX_INPUT_KINDS)}).",
            "Use --input table for records with named fields, or --format sklearn.",
        )
    if not steps:
        raise OnnxConversionError("the pipeline has no artifacts.", FALLBACK_HINT)
    pipeline = as_pipeline(steps)
    missing = unsupported(pipeline)
    if missing:
        raise OnnxConversionError(
            f"skl2onnx has no converter for {missing[0]}"
            + (f" (nor for {', '.join(missing[1:])})" if len(missing) > 1 else "")
            + ": the pipeline cannot be served as ONNX.",
            FALLBACK_HINT,
            missing[0],
        )
    return pipeline


def _convert(pipeline: Any, types: list[Any], options: dict, target_opset: int | None) -> Any:
    """skl2onnx's graph, or OnnxConversionError naming the estimator whose converter raised."""
    from skl2onnx import convert_sklearn

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return convert_sklearn(
                pipeline,
                initial_types=types,
                options=options,
                target_opset=target_opset,
                name="mlayer",  # not skl2onnx's random uuid: the same pipeline, the same bytes
            )
    except Exception as exc:
        culprit = failing_estimator(exc) or class_name(final_estimator(pipeline))
        first_line = (str(exc).strip().splitlines() or [""])[0][:300]
        raise OnnxConversionError(
            f"skl2onnx failed to convert {culprit}: {type(exc).__name__}: {first_line}",
            FALLBACK_HINT,
            culprit,
        ) from exc


def _converted(
    model: Any,
    pipeline: Any,
    input_kind: str,
    inputs: list[OnnxInput],
    with_proba: bool | None,
) -> ConvertedModel:
    """The graph's bytes with what the function needs to read its outputs."""
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
    return ConvertedModel(
        onnx_bytes=model.SerializeToString(),
        input_kind=input_kind,
        inputs=tuple(inputs),
        label_output=outputs[0],
        proba_output=outputs[1] if with_proba else None,
        classes=[_plain(c) for c in classes] if classes is not None else None,
        opsets={(o.domain or "ai.onnx"): int(o.version) for o in model.opset_import},
        estimators=tuple(class_name(e) for e in walk_estimators(pipeline)),
        versions=_versions(),
    )


def _plain(value: Any) -> Any:
    if isinstance(value, str):
        return str(value)  # np.str_ too
    item = getattr(value, "item", None)
    return item() if callable(item) and not isinstance(value, (str, bytes)) else value
