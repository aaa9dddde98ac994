"""How many columns histogram gradient boosting's ``_preprocessor`` hands its predictors.

With categorical features, HistGradientBoosting (sklearn 1.7, ``_preprocess_X``) passes X
through a ColumnTransformer it built itself: an OrdinalEncoder on the categorical columns, a
FunctionTransformer (``check_array``) on the others, the remainder dropped. Its predictors then
read ``X[row, feature_idx]`` of that output unchecked, so the output must have
``n_features_in_`` columns: each entry's columns are a mask or indices within X, an encoder
emits as many columns as it was fitted on, a FunctionTransformer (no function, or a partial of
``check_array``) and ``passthrough`` as many as they take, ``drop`` none; anything else is
refused.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlayer.model.native_state.arrays import Arrays, Bad, class_of, integer, is_array

COLUMN_TRANSFORMER = "sklearn.compose._column_transformer.ColumnTransformer"
ENCODER = "sklearn.preprocessing._encoders.OrdinalEncoder"
FUNCTION = "sklearn.preprocessing._function_transformer.FunctionTransformer"
CHECK_ARRAY = "sklearn.utils.validation.check_array"


def check_preprocessor(pre: Any, width: int, arrays: Arrays) -> None:
    state = getattr(pre, "native_merged", None)
    if class_of(pre) != COLUMN_TRANSFORMER or not isinstance(state, dict):
        raise Bad("_preprocessor", f"{class_of(pre)} is not the ColumnTransformer it builds")
    entries = state.get("transformers_")
    if not isinstance(entries, list):
        raise Bad("_preprocessor.transformers_", "not a list")
    total = 0
    for i, entry in enumerate(entries):
        where = f"_preprocessor.transformers_[{i}]"
        if not (isinstance(entry, tuple) and len(entry) == 3):
            raise Bad(where, "not (name, transformer, columns)")
        count = _columns(entry[2], width, arrays, where)
        total += _emitted(entry[1], count, where)
    if total != width:
        raise Bad("_preprocessor", f"emits {total} columns, its predictors read {width}")


def _columns(columns: Any, width: int, arrays: Arrays, where: str) -> int:
    """How many of X's columns one entry takes (a bool mask or int indices within X)."""
    values = np.asarray(columns) if isinstance(columns, list) else None
    if is_array(columns):
        values = arrays.get(columns, where)
    if values is None or values.ndim != 1 or values.dtype.kind not in "biu":
        raise Bad(where, "columns that are not a mask or indices")
    if values.dtype.kind == "b":
        if len(values) != width:
            raise Bad(where, f"a mask of {len(values)} for {width} columns")
        return int(values.sum())
    if len(values) and (values.min() < 0 or values.max() >= width):
        raise Bad(where, f"a column outside X's {width}")
    return len(values)


def _emitted(transformer: Any, count: int, where: str) -> int:
    if transformer == "drop":
        return 0
    if transformer == "passthrough":
        return count
    state = getattr(transformer, "native_merged", None)
    name = class_of(transformer)
    if name == ENCODER and isinstance(state, dict):
        if integer(state.get("n_features_in_"), f"{where}.n_features_in_", 0) != count:
            raise Bad(f"{where}.n_features_in_", f"not the {count} columns it is given")
        return count
    if name == FUNCTION and isinstance(state, dict):
        func = state.get("func")
        target = func.args[0] if class_of(func) == "functools.partial" and func.args else func
        if func is None or getattr(target, "qualname", None) == CHECK_ARRAY:
            return count
    raise Bad(where, f"{name}: mlayer cannot tell how many columns it emits")
