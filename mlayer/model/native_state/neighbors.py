"""Neighbours: KDTree/BallTree arrays and the DistanceMetric objects they query with.

``BinaryTree.__setstate__`` (sklearn 1.7, _binary_tree.pxi.tp) takes its 13-item tuple as is:
``data``, ``idx_array``, ``node_data``, ``node_bounds``, ``leaf_size``, ``n_levels``,
``n_nodes``, ``n_trims``, ``n_leaves``, ``n_splits``, ``n_calls``, ``dist_metric``,
``sample_weight``. Queries then recurse into nodes ``2i+1`` and ``2i+2`` of any node not marked
leaf, read ``data[idx_array[idx_start:idx_end]]`` and ``node_bounds[.., i, ..]``, all without
bound checks (memoryviews with boundscheck off). So: ``data`` 2-D float with rows and columns;
``idx_array`` a permutation of ``range(len(data))``; ``node_data`` NodeData records, one per
node (``n_nodes``), ``0 <= idx_start <= idx_end <= len(data)``, ``is_leaf`` 0/1, a non-leaf's
children within the node count; ``node_bounds`` ``(2, n_nodes, n_features)`` for a KD tree,
``(1, n_nodes, n_features)`` for a ball tree; ``sample_weight`` None or one float per row.

``DistanceMetric.__setstate__`` takes ``(p, vec, mat[, func, kwargs])`` and sizes itself from
``vec`` (Mahalanobis: from ``mat``, and a buffer of that size it writes ``n_features`` values
into). A tree's metric must fit its data: Mahalanobis ``mat`` ``(n_features, n_features)``,
SEuclidean ``vec`` of ``n_features``, weighted Minkowski ``vec`` empty or of ``n_features``,
Haversine on 2 features.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlayer.model.native_state.arrays import (
    Arrays,
    Bad,
    class_of,
    floats,
    integer,
    ints,
    structured,
)

TREE_MODULES = ("sklearn.neighbors._kd_tree.", "sklearn.neighbors._ball_tree.")
TREES = {"KDTree": 2, "KDTree64": 2, "KDTree32": 2, "BallTree": 1, "BallTree64": 1, "BallTree32": 1}
METRIC_MODULE = "sklearn.metrics._dist_metrics."
NODE_DATA = {"idx_start": "<i8", "idx_end": "<i8", "is_leaf": "<i8", "radius": "<f8"}


def is_tree(name: str) -> bool:
    return name.startswith(TREE_MODULES)


def is_metric(name: str) -> bool:
    return name.startswith(METRIC_MODULE)


def check_metric(inst: Any, state: Any, arrays: Arrays) -> None:
    """What DistanceMetric.__setstate__ is given; remembers its sizes for the tree check."""
    name = class_of(inst).rsplit(".", 1)[1]
    if not (name.endswith(("Distance64", "Distance32")) and name[:-2] != "Distance"):
        raise Bad("class", f"{name} is not a distance metric mlayer checks")
    size = 5 if name.startswith("PyFuncDistance") else 3
    if not isinstance(state, tuple) or len(state) != size:
        raise Bad("state", "not the tuple DistanceMetric.__getstate__ writes")
    if not isinstance(state[0], float) or np.isnan(state[0]):
        raise Bad("p", "not a number")
    vec = floats(arrays.get(state[1], "vec"), "vec", 1)
    mat = floats(arrays.get(state[2], "mat"), "mat", 2)
    if name.startswith("Mahalanobis") and mat.shape[0] != mat.shape[1]:
        raise Bad("mat", f"shape {mat.shape} is not square")
    inst.native_facts = {"name": name[:-2], "vec": len(vec), "mat": mat.shape}


def check_tree(inst: Any, state: Any, arrays: Arrays) -> None:
    """What BinaryTree.__setstate__ is given."""
    name = class_of(inst).rsplit(".", 1)[1]
    if name not in TREES:
        raise Bad("class", f"{name} is not a tree mlayer checks")
    if not isinstance(state, tuple) or len(state) != 13:
        raise Bad("state", "not the 13-item tuple BinaryTree.__getstate__ writes")
    data = floats(arrays.get(state[0], "data"), "data", 2)
    rows, columns = data.shape
    if not rows or not columns:
        raise Bad("data", f"shape {data.shape}")
    order = ints(arrays.get(state[1], "idx_array"), "idx_array")
    if len(order) != rows or not (np.sort(order) == np.arange(rows)).all():
        raise Bad("idx_array", f"not a permutation of the {rows} rows of data")
    n_nodes = integer(state[6], "n_nodes", 1)
    f = structured(arrays.get(state[2], "node_data"), "node_data", NODE_DATA)
    _check_nodes(f, n_nodes, rows)
    bounds = floats(arrays.get(state[3], "node_bounds"), "node_bounds", 3)
    if bounds.shape != (TREES[name], n_nodes, columns):
        raise Bad(
            "node_bounds", f"shape {bounds.shape}, expected {(TREES[name], n_nodes, columns)}"
        )
    integer(state[4], "leaf_size", 1)
    for i, field in enumerate(
        ("n_levels", "n_nodes", "n_trims", "n_leaves", "n_splits", "n_calls")
    ):
        integer(state[5 + i], field, 0)
    if not is_metric(class_of(state[11])):
        raise Bad("dist_metric", f"{class_of(state[11])} is not a distance metric")
    if state[12] is not None:
        weights = floats(arrays.get(state[12], "sample_weight"), "sample_weight", 1)
        if len(weights) != rows:
            raise Bad("sample_weight", f"{len(weights)} weights for {rows} rows")
    inst.native_facts = {"n_features": columns, "metric": state[11]}


def _check_nodes(f: dict[str, np.ndarray], n_nodes: int, rows: int) -> None:
    if len(f["idx_start"]) != n_nodes:
        raise Bad("node_data", f"{len(f['idx_start'])} nodes, but n_nodes is {n_nodes}")
    start, end, leaf = f["idx_start"], f["idx_end"], f["is_leaf"]
    bad = (start < 0) | (start > end) | (end > rows)
    if bad.any():
        i = int(np.argmax(bad))
        raise Bad(f"node_data[{i}]", f"rows {int(start[i])}:{int(end[i])} of {rows}")
    if ((leaf != 0) & (leaf != 1)).any():
        raise Bad(f"node_data['is_leaf'][{int(np.argmax((leaf != 0) & (leaf != 1)))}]", "not 0/1")
    inner = np.flatnonzero(leaf == 0)
    if len(inner) and 2 * int(inner.max()) + 2 >= n_nodes:
        i = int(inner[2 * inner + 2 >= n_nodes][0])
        raise Bad(f"node_data['is_leaf'][{i}]", f"an inner node whose children pass {n_nodes}")


def check_tree_metric(tree: Any) -> None:
    """At the end of the scan: the metric the tree queries with fits its data's columns."""
    facts = tree.native_facts
    metric = getattr(facts["metric"], "native_facts", None)
    if metric is None:
        raise Bad("dist_metric", "a metric mlayer could not check")
    columns, kind = facts["n_features"], metric["name"]
    if kind == "MahalanobisDistance" and metric["mat"] != (columns, columns):
        raise Bad("dist_metric.mat", f"shape {metric['mat']} for {columns} features")
    if kind == "SEuclideanDistance" and metric["vec"] != columns:
        raise Bad("dist_metric.vec", f"{metric['vec']} values for {columns} features")
    if kind == "MinkowskiDistance" and metric["vec"] not in (0, columns):
        raise Bad("dist_metric.vec", f"{metric['vec']} weights for {columns} features")
    if kind == "HaversineDistance" and columns != 2:
        raise Bad("dist_metric", f"haversine on {columns} features (it reads 2)")


def holds_fit_x(merged: dict) -> bool:
    return "_fit_method" in merged and "_fit_X" in merged


def check_estimator(merged: dict, arrays: Arrays) -> None:
    """A neighbours estimator: brute force (pairwise reductions in Cython) reads ``_fit_X`` rows
    with X's width, and X is checked against ``n_features_in_`` only."""
    width = integer(merged.get("n_features_in_"), "n_features_in_", 1)
    fit_x = merged["_fit_X"]
    state = getattr(fit_x, "native_merged", None)
    if isinstance(state, dict) and "_shape" in state:  # sparse: its index arrays are checked
        shape = state["_shape"]
    else:
        shape = arrays.get(fit_x, "_fit_X").shape
    if not isinstance(shape, tuple) or len(shape) != 2 or shape[1] != width:
        raise Bad("_fit_X", f"shape {shape} for {width} features")
