"""SimpleImputer on double inputs, for the double preprocessing before trees (tree_graph.py).

skl2onnx writes SimpleImputer as ai.onnx.ml's Imputer, whose fill values are float32 and which
onnxruntime runs on float32 only. On double inputs this converter writes Where(IsNaN(x), fill, x)
with the fitted statistics in float64, as scikit-learn fills them; other inputs keep skl2onnx's.
"""

from __future__ import annotations

import math
from typing import Any


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def convert_imputer_double(scope: Any, operator: Any, container: Any) -> None:
    """skl2onnx converter signature: fill missing numbers with statistics_ in float64."""
    import numpy as np
    from onnx import TensorProto
    from skl2onnx.common.data_types import DoubleTensorType
    from skl2onnx.operator_converters.common import concatenate_variables
    from skl2onnx.operator_converters.imputer_op import convert_sklearn_imputer

    imputer = operator.raw_operator
    missing = imputer.missing_values
    numeric_missing = _is_nan(missing) or isinstance(missing, (int, float))
    if not isinstance(operator.inputs[0].type, DoubleTensorType) or not numeric_missing:
        convert_sklearn_imputer(scope, operator, container)
        return
    x = concatenate_variables(scope, operator.inputs, container)
    fill = scope.get_unique_variable_name("fill64")
    stats = np.asarray(imputer.statistics_, dtype=np.float64)
    container.add_initializer(fill, TensorProto.DOUBLE, [stats.size], stats.tolist())
    mask = scope.get_unique_variable_name("missing")
    if _is_nan(missing):
        container.add_node("IsNaN", [x], [mask], name=scope.get_unique_operator_name("IsNaN"))
    else:
        value = scope.get_unique_variable_name("missing_value")
        container.add_initializer(value, TensorProto.DOUBLE, [1], [float(missing)])
        container.add_node("Equal", [x, value], [mask], name=scope.get_unique_operator_name("Eq"))
    container.add_node(
        "Where",
        [mask, fill, x],
        [operator.outputs[0].full_name],
        name=scope.get_unique_operator_name("Impute"),
    )


def custom_converters() -> dict:
    """convert_sklearn's custom_conversion_functions for the double preprocessing."""
    from sklearn.impute import SimpleImputer

    return {SimpleImputer: convert_imputer_double}
