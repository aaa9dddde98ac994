"""k-means: the centers the Cython label loops read with X's width.

``_k_means_lloyd.pyx`` (``lloyd_iter_chunked_dense``/``_sparse``, sklearn 1.7) takes
``n_features = X.shape[1]`` and reads ``centers[j, k]`` for every k below it, unchecked; X is
checked against the estimator's ``n_features_in_`` only. So KMeans and MiniBatchKMeans need
``cluster_centers_`` of shape ``(n >= 1, n_features_in_)``, and BisectingKMeans (which labels
with the two centers of each ``_BisectingTree`` node it descends through) a center of
``n_features_in_`` values at every node of its tree.
"""

from __future__ import annotations

from typing import Any

from mlayer.model.native_state.arrays import Arrays, Bad, class_of, floats, integer

KMEANS = {"sklearn.cluster._kmeans.KMeans", "sklearn.cluster._kmeans.MiniBatchKMeans"}
BISECTING = "sklearn.cluster._bisect_k_means.BisectingKMeans"
NODE = "sklearn.cluster._bisect_k_means._BisectingTree"


def is_kmeans(name: str) -> bool:
    return name in KMEANS or name == BISECTING


def check_kmeans(name: str, merged: dict, arrays: Arrays) -> None:
    if "cluster_centers_" not in merged:
        return  # not fitted: predict refuses before any native code
    width = integer(merged.get("n_features_in_"), "n_features_in_", 1)
    centers = floats(arrays.get(merged["cluster_centers_"], "cluster_centers_"), "", 2)
    if not centers.shape[0] or centers.shape[1] != width:
        raise Bad("cluster_centers_", f"shape {centers.shape} for {width} features")
    if name == BISECTING:
        _check_bisecting_tree(merged.get("_bisecting_tree"), width, arrays)


def _check_bisecting_tree(root: Any, width: int, arrays: Arrays) -> None:
    todo, seen, path = [(root, "_bisecting_tree")], set(), ""
    while todo:
        node, path = todo.pop()
        state = getattr(node, "native_merged", None)
        if class_of(node) != NODE or not isinstance(state, dict) or id(node) in seen:
            raise Bad(path, f"{class_of(node)} where a tree node (once) is expected")
        seen.add(id(node))
        center = floats(arrays.get(state.get("center"), f"{path}.center"), f"{path}.center")
        if center.shape != (width,):
            raise Bad(f"{path}.center", f"shape {center.shape} for {width} features")
        children = [state.get("left"), state.get("right")]
        if any(c is not None for c in children):
            todo.extend(
                (c, f"{path}.{side}") for c, side in zip(children, ("left", "right"), strict=True)
            )
