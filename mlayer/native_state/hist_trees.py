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

import numpy as np

from mlayer.native_state.arrays import Arrays, Bad, class_of, integer, ints, structured
from mlayer.native_state.column_widths import check_preprocessor

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


def check_predictor(merged: dict, arrays: Arrays) -> None:
    """One TreePredictor's own consistency; features are bounded by its estimator."""
    for key in ("nodes", "binned_left_cat_bitsets", "raw_left_cat_bitsets"):
        if key not in merged:
            raise Bad(key, "missing")
    f = _fields(merged, arrays)
    count = len(f["left"])
    if not count:
        raise Bad("nodes", "empty")
    for name in ("is_leaf", "is_categorical", "missing_go_to_left"):
        if (f[name] > 1).any():
            raise Bad(f"nodes['{name}'][{int(np.argmax(f[name] > 1))}]", "not 0 or 1")
    split = f["is_leaf"] == 0
    index = np.arange(count)
    left, right = f["left"].astype(np.int64), f["right"].astype(np.int64)
    for name, child in (("left", left), ("right", right)):
        bad = split & ((child <= index) | (child >= count))
        if bad.any():
            i = int(np.argmax(bad))
            raise Bad(f"nodes['{name}'][{i}]", f"{int(child[i])} is not a later node of {count}")
    parents = np.bincount(np.concatenate([left[split], right[split]]), minlength=count)
    if parents[0] or (parents[1:] != 1).any():
        raise Bad("nodes", "not one tree from node 0 (a node with no or two parents)")
    if (split & (f["feature_idx"] < 0)).any():
        raise Bad(f"nodes['feature_idx'][{int(np.argmax(f['feature_idx'] < 0))}]", "negative")
    rows = None
    for key in ("binned_left_cat_bitsets", "raw_left_cat_bitsets"):
        bits = arrays.get(merged[key], key)
        if bits.dtype.kind != "u" or bits.dtype.itemsize != 4 or bits.ndim != 2:
            raise Bad(key, f"{bits.dtype} {bits.shape}, expected uint32 (n, 8)")
        if bits.shape[1] != 8:
            raise Bad(key, f"shape {bits.shape}, expected (n, 8)")
        rows = bits.shape[0] if rows is None else min(rows, bits.shape[0])
    categorical = split & (f["is_categorical"] == 1)
    bad = categorical & (f["bitset_idx"] >= rows)
    if bad.any():
        i = int(np.argmax(bad))
        raise Bad(f"nodes['bitset_idx'][{i}]", f"{int(f['bitset_idx'][i])}, beyond {rows} bitsets")


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
    for n, predictor in enumerate(predictors):
        f = _fields(predictor.native_merged, arrays)
        split = f["is_leaf"] == 0
        feature = f["feature_idx"]
        bad = split & (feature >= width)
        if bad.any():
            i = int(np.argmax(bad))
            raise Bad(f"predictor {n}: nodes['feature_idx'][{i}]", f"beyond {width} features")
        cat = split & (f["is_categorical"] == 1)
        if cat.any() and not marks[feature[cat]].all():
            raise Bad(f"predictor {n}: nodes['is_categorical']", "a split on a numeric feature")


def owner_of(merged: dict) -> bool:
    return "_predictors" in merged and "_bin_mapper" in merged
