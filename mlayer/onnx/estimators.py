"""The estimators a fitted pipeline holds, as skl2onnx sees them: walked, named, convertible or not.

convert.py asks which estimator has no converter (refused before converting), which one a
failed conversion was in (named in the error), and the options each converter is given;
samples.py and parity.py walk the same tree. skl2onnx and scikit-learn are imported lazily.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any


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


def as_pipeline(steps: Sequence[Any]) -> Any:
    """The artifacts, applied in order, as one scikit-learn Pipeline (already fitted)."""
    from sklearn.pipeline import Pipeline

    if len(steps) == 1 and isinstance(steps[0], Pipeline):
        return steps[0]
    return Pipeline([(f"step{i}", step) for i, step in enumerate(steps)])


def _allowed_options(est: Any) -> dict:
    """The options skl2onnx's converter for ``est`` accepts (LinearSVC's has no zipmap)."""
    from skl2onnx._supported_operators import sklearn_operator_name_map
    from skl2onnx.common._registration import get_converter

    try:
        return get_converter(sklearn_operator_name_map[type(est)]).get_allowed_options() or {}
    except (KeyError, ValueError, AttributeError):
        return {}


def converter_options(pipeline: Any, locale: str) -> dict:
    """skl2onnx options by estimator id: no ZipMap on the classifier, the vectorizers' locale."""
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


def unsupported(pipeline: Any) -> list[str]:
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


def failing_estimator(exc: BaseException) -> str | None:
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
