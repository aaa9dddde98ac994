"""Histogram gradient boosting: the TreePredictor node records its Cython predictor walks.

``TreePredictor`` (sklearn.ensemble._hist_gradient_boosting.predictor, a Python class) keeps
``nodes`` (PREDICTOR_RECORD_DTYPE) and two ``(n, 8)`` uint32 bitset arrays; ``_predictor.pyx``
follows ``left``/``right``, reads ``X[row, feature_idx]``, and for a categorical split indexes
``raw_left_cat_bitsets[bitset_idx]`` (``binned_left_cat_bitsets`` when binned) and
``known_cat_bitsets[f_idx_map[feature_idx]]``, all without bound checks (sklearn 1.7). So:

- per predictor: a non-empty node array of that record layout; a split's ``left`` and
  ``right`` both later nodes (``_fill_predictor_arrays`` numbers children after parents), each
  node but the root the child of exactly one split; ``is_leaf``, ``is_categorical`` and
  ``missing_go_to_left`` 0/1; ``feature_idx >= 0``; a categorical split's ``bitset_idx`` a row
  of both bitset arrays, which are 2-D uint32 with 8 columns;
- per estimator (``_predictors``, a list of lists of TreePredictor): every split's
  ``feature_idx`` below ``n_features_in_``; ``_bin_mapper.is_categorical_`` of that length
  (``f_idx_map`` is built from it), and a categorical split only on a feature it marks
  categorical (else ``f_idx_map`` points at a row of ``known_cat_bitsets`` that may not exist).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from mlayer.model.native_state.arrays import Arrays, Bad, class_of, integer, ints, structured
from mlayer.model.native_state.column_widths import check_preprocessor
from mlayer.model.native_state.tree_nodes import Report

PREDICTOR = "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"

# common.pyx's PREDICTOR_RECORD_DTYPE (sklearn 1.0 - 1.7)
RECORD_FIELDS = {
    "value": "<f8",
    "count": "<u4",
    "feature_idx": "<i8",
    "num_threshold": "<f8",
    "missing_go_to_left": "u1",
    "left": "<u4",
    "right": "<u4",
    "gain": "<f8",
    "depth": "<u4",
    "is_leaf": "u1",
    "bin_threshold": "u1",
    "is_categorical": "u1",
    "bitset_idx": "<u4",
}


def check_predictors(items: list[tuple[Any, dict]], arrays: Arrays) -> list[tuple[Any, str]]:
    """Every TreePredictor the model reaches, checked at once: (predictor, "field: why") for
    each flawed one, at its first flaw. Features are bounded by the estimator's check."""
    out, queued = [], []
    for obj, merged in items:
        try:
            queued.append(_Queued(obj, _fields(merged, arrays), _bitset_rows(merged, arrays)))
        except Bad as bad:
            out.append((obj, f"{bad.field}: {bad.why}"))
    if queued:
        out.extend(_check_nodes(queued))
    return out


class _Queued(NamedTuple):
    inst: Any
    fields: dict[str, np.ndarray]
    rows: int  # bitset rows both arrays have


def _bitset_rows(merged: dict, arrays: Arrays) -> int:
    rows = None
    for key in ("nodes", "binned_left_cat_bitsets", "raw_left_cat_bitsets"):
        if key not in merged:
            raise Bad(key, "missing")
    for key in ("binned_left_cat_bitsets", "raw_left_cat_bitsets"):
        dtype, shape = arrays.meta(merged[key], key)  # only its shape is checked
        if dtype.kind != "u" or dtype.itemsize != 4 or len(shape) != 2 or shape[1] != 8:
            raise Bad(key, f"{dtype} {shape}, expected uint32 (n, 8)")
        rows = shape[0] if rows is None else min(rows, shape[0])
    return int(rows or 0)


def _check_nodes(queued: list[_Queued]) -> list[tuple[Any, str]]:
    counts = np.array([len(q.fields["left"]) for q in queued], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    tree_of = np.repeat(np.arange(len(queued)), counts)
    local = np.arange(int(counts.sum())) - starts[tree_of]
    f = {name: np.concatenate([q.fields[name] for q in queued]) for name in _USED}
    report = Report(queued, tree_of, local)
    for empty in np.flatnonzero(counts == 0).tolist():
        report.out.append((queued[empty].inst, "nodes: empty"))
        report.failed[empty] = True
    for name in ("is_leaf", "is_categorical", "missing_go_to_left"):
        report(f[name] > 1, name, lambda g: "not 0 or 1")
    split = f["is_leaf"] == 0
    count_of = counts[tree_of]
    for name in ("left", "right"):
        child = f[name].astype(np.int64)
        bad = split & ((child <= local) | (child >= count_of))
        report(bad, name, lambda g, c=child: f"{int(c[g])} is not a later node of {count_of[g]}")
    ok = split & report.ok()
    offset = starts[tree_of][ok]
    children = np.concatenate([f["left"][ok] + offset, f["right"][ok] + offset])
    parents = np.bincount(children, minlength=len(local))
    report(parents != (local != 0), "", lambda g: f"the child of {parents[g]} nodes, not one")
    report(split & (f["feature_idx"] < 0), "feature_idx", lambda g: "negative")
    rows = np.array([q.rows for q in queued], dtype=np.int64)[tree_of]
    bad = split & (f["is_categorical"] == 1) & (f["bitset_idx"] >= rows)
    report(bad, "bitset_idx", lambda g: f"{int(f['bitset_idx'][g])}, beyond {rows[g]} bitsets")
    return report.out


_USED = (
    "left",
    "right",
    "is_leaf",
    "is_categorical",
    "missing_go_to_left",
    "feature_idx",
    "bitset_idx",
)


def _fields(merged: dict, arrays: Arrays) -> dict[str, np.ndarray]:
    """A predictor's node fields, read once for its own check and its estimator's."""
    nodes = merged["nodes"]
    cached = arrays.memo.get(id(nodes))
    if cached is None or cached[0] is not nodes:
        cached = (nodes, structured(arrays.get(nodes, "nodes"), "nodes", RECORD_FIELDS))
        arrays.memo[id(nodes)] = cached
    return cached[1]


def _predictors(merged: dict) -> list:
    out = merged.get("_predictors")
    if not isinstance(out, list) or not all(isinstance(row, list) for row in out):
        raise Bad("_predictors", "not a list of lists of TreePredictor")
    flat = [p for row in out for p in row]
    for p in flat:
        if class_of(p) != PREDICTOR or not isinstance(getattr(p, "native_merged", None), dict):
            raise Bad("_predictors", f"{class_of(p)} where a TreePredictor is expected")
    return flat


def check_estimator(merged: dict, arrays: Arrays) -> None:
    """A HistGradientBoosting estimator: its predictors' features against what X will have."""
    predictors = _predictors(merged)
    width = integer(merged.get("n_features_in_"), "n_features_in_", 1)
    mapper = getattr(merged.get("_bin_mapper"), "native_merged", None)
    if not isinstance(mapper, dict) or "is_categorical_" not in mapper:
        raise Bad("_bin_mapper", "not a fitted _BinMapper")
    marks = ints(arrays.get(mapper["is_categorical_"], "is_categorical_"), "is_categorical_")
    if len(marks) != width:
        raise Bad("_bin_mapper.is_categorical_", f"{len(marks)} features, not {width}")
    if merged.get("_preprocessor") is not None:
        check_preprocessor(merged["_preprocessor"], width, arrays)
    fields = [_fields(p.native_merged, arrays) for p in predictors]
    if not fields:
        return
    split = np.concatenate([f["is_leaf"] for f in fields]) == 0
    feature = np.concatenate([f["feature_idx"] for f in fields])
    categorical = np.concatenate([f["is_categorical"] for f in fields]) == 1
    beyond = split & (feature >= width)
    if beyond.any():
        raise Bad("_predictors", f"a split on feature {int(feature[beyond][0])} of {width}")
    on = feature[split & categorical]
    if len(on) and not marks[np.clip(on, 0, width - 1)].all():
        raise Bad("_predictors", "a categorical split on a numeric feature")


def owner_of(merged: dict) -> bool:
    return "_predictors" in merged and "_bin_mapper" in merged
