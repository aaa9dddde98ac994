"""The input a fitted pipeline takes: which kind (auto's choice, with why) and, for pipelines
fitted on a pandas DataFrame, the table schema the manifest records (docs/FORMATS.md).

Everything here is read from the fitted objects (``feature_names_in_``, a ColumnTransformer's
``transformers_``, encoders' ``categories_``, imputers, estimator tags), never by predicting, so
publish-model stays fast and the schema says what the pipeline itself knows. The function
checks each record against this schema before its one vectorized predict.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from mlayer.errors import ModelError

TEXT_MODULE = "sklearn.feature_extraction.text."
KINDS = ("number", "string", "boolean", "datetime")  # datetime: from --sample (sample_kinds.py)
_STATISTICS = ("mean_", "statistics_", "center_", "data_min_")  # fitted per-column numbers


def choose_input(first_step: Any, first_class: str) -> tuple[str, str]:
    """(input kind, why) for ``--input auto``: the sentence publish-model prints."""
    names = getattr(first_step, "feature_names_in_", None)
    if names is not None:
        inner = flatten([first_step])
        name = type(inner[0]).__name__ if inner else first_class.rsplit(".", 1)[-1]
        return "table", (
            f"table: the first step ({name}) was fitted on a DataFrame "
            f"with {len(names)} named columns (feature_names_in_)"
        )
    if first_class.startswith(TEXT_MODULE):
        return "text", f"text: the first step is a text vectorizer ({first_class})"
    return "features", (
        f"features: the first step ({first_class.rsplit('.', 1)[-1]}) has no column names, "
        "so records carry a list of numbers"
    )


def flatten(objs: Sequence[Any]) -> list[Any]:
    """The pipeline's steps in order: Pipeline objects opened, 'passthrough'/None dropped."""
    out: list[Any] = []
    for obj in objs:
        steps = getattr(obj, "steps", None)
        if isinstance(steps, list):
            out.extend(flatten([s for _, s in steps]))
        elif obj is None or obj == "passthrough" or _identity(obj):
            continue
        else:
            out.append(obj)
    return out


def _identity(obj: Any) -> bool:
    """A FunctionTransformer without a function (what a fitted remainder='passthrough' becomes)."""
    return type(obj).__name__ == "FunctionTransformer" and getattr(obj, "func", 0) is None


def _columns_of(spec: Any, names: list[str]) -> list[str]:
    """A ColumnTransformer column spec, resolved to names (None: cannot tell, e.g. a callable)."""
    if isinstance(spec, str):
        return [spec]
    if isinstance(spec, int):
        return [names[spec]]
    if isinstance(spec, slice):
        if isinstance(spec.start, str) or isinstance(spec.stop, str):
            start = names.index(spec.start) if spec.start is not None else 0
            stop = names.index(spec.stop) + 1 if spec.stop is not None else len(names)
            return names[start:stop]
        return names[spec]
    items = list(spec) if not callable(spec) else []
    if items and all(isinstance(i, (bool,)) or type(i).__name__ == "bool_" for i in items):
        return [n for n, keep in zip(names, items, strict=False) if keep]
    return [names[int(i)] if not isinstance(i, str) else i for i in items]


def _is_imputer(step: Any) -> bool:
    if not type(step).__name__.endswith("Imputer"):
        return False
    missing = getattr(step, "missing_values", math.nan)
    return missing is None or (isinstance(missing, float) and math.isnan(missing))


def _is_encoder(step: Any) -> bool:
    return hasattr(step, "categories_") and hasattr(step, "handle_unknown")


def _allows_nan(step: Any) -> bool:
    try:
        from sklearn.utils import get_tags

        return bool(get_tags(step).input_tags.allow_nan)
    except Exception:  # not a scikit-learn estimator, or an old one: assume it refuses NaN
        return False


def _json_value(value: Any) -> Any:
    item = getattr(value, "item", None)
    value = item() if callable(item) and not isinstance(value, (str, bytes)) else value
    return value if isinstance(value, (str, bool, int, float)) or value is None else str(value)


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _kind_of(values: list[Any]) -> str:
    if values and all(isinstance(v, bool) for v in values):
        return "boolean"
    if values and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return "number"
    return "string"


def describe_column(name: str, chain: list[Any]) -> dict:
    """One column's schema entry, from the steps its values go through (last: the estimator)."""
    entry: dict[str, Any] = {
        "name": name,
        "kind": "number",
        "nullable": None,
        "categories": None,
        "handle_unknown": None,
    }
    for step in chain:
        if step == "drop":
            entry["nullable"] = entry["nullable"] if entry["nullable"] is not None else True
            break
        if _is_encoder(step):
            index = list(getattr(step, "feature_names_in_", [name])).index(name)
            known = [_json_value(v) for v in step.categories_[index]]
            seen_missing = any(_is_missing(v) for v in known)
            known = [v for v in known if not _is_missing(v)]
            entry["kind"] = _kind_of(known)
            entry["categories"] = known
            entry["handle_unknown"] = str(step.handle_unknown)
            if entry["nullable"] is None:
                entry["nullable"] = seen_missing or step.handle_unknown != "error"
            break
        if _is_imputer(step):
            statistics = getattr(step, "statistics_", None)
            if getattr(statistics, "dtype", None) is not None and statistics.dtype.kind == "O":
                entry["kind"] = "string"
            if entry["nullable"] is None:
                entry["nullable"] = True
            continue
        if entry["nullable"] is None and not _allows_nan(step):
            entry["nullable"] = False
    entry["nullable"] = bool(entry["nullable"]) if entry["nullable"] is not None else True
    return entry


def column_chains(loaded: Sequence[Any]) -> tuple[dict[str, list[Any]], list[Any]]:
    """Each fitted column's own steps, in the fitted order ("drop" where a ColumnTransformer
    drops it), and the steps all columns then go through (the estimator last)."""
    steps = flatten(loaded)
    names = getattr(loaded[0], "feature_names_in_", None)
    if names is None or not steps:
        raise ModelError(
            "--input table needs a pipeline fitted on a pandas DataFrame (its first step has "
            "feature_names_in_).",
            "Fit the pipeline on a DataFrame, or choose --input features/text/record.",
        )
    names = [str(n) for n in names]
    first, rest = steps[0], steps[1:]
    chains: dict[str, list[Any]] = {n: [] for n in names}
    transformers = getattr(first, "transformers_", None)
    if transformers is None:
        chains = {n: [first] for n in names}
    else:
        for _, transformer, spec in transformers:
            cols = _columns_of(spec, names) if spec is not None else []
            for col in cols:
                if col in chains:
                    chains[col].extend(
                        ["drop"] if transformer == "drop" else flatten([transformer])
                    )
    return chains, rest


def table_schema(loaded: Sequence[Any]) -> dict:
    """``input_schema`` of a pipeline fitted on a DataFrame: its columns, in the fitted order."""
    chains, rest = column_chains(loaded)
    # A column only a ColumnTransformer's "drop" takes is never read: records need not carry it.
    used = [n for n, chain in chains.items() if any(step != "drop" for step in chain) or not chain]
    return {"columns": [describe_column(n, chains[n] + rest) for n in used]}


def fitted_statistic(name: str, chain: list[Any]) -> float | None:
    """The first per-column number a step fitted on this column (a scaler's mean, an imputer's
    statistic): how big its training values were, e.g. in which unit a datetime was counted."""
    for step in chain:
        names = [str(n) for n in getattr(step, "feature_names_in_", [])]
        if name not in names:
            continue
        for attr in _STATISTICS:
            values = getattr(step, attr, None)
            kind = getattr(getattr(values, "dtype", None), "kind", "")
            if kind in ("f", "i", "u") and len(values) == len(names):
                value = float(values[names.index(name)])
                return value if math.isfinite(value) else None
    return None
