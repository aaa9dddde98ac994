"""sklearn.tree._tree.Tree: the node array native code walks, and who feeds it which features.

``Tree.__setstate__`` (sklearn 1.7) checks the node array's dtype and the value array's shape,
then memcpy's them; ``apply``/``predict``/``decision_path`` then follow ``left_child`` and
``right_child`` and read ``X[i, feature]`` with no bound check. So before loading:

- the reduce arguments ``Tree(n_features, n_classes, n_outputs)``: ints >= 1, ``n_classes``
  one int >= 1 per output;
- the state ``{max_depth, node_count, nodes, values}``: ``1 <= node_count <= len(nodes)``
  (the capacity), the node record layout sklearn accepts, ``values`` float64 of shape
  ``(capacity, n_outputs, max(n_classes))``;
- every node below ``node_count``: both children -1 (a leaf) or both in ``(parent,
  node_count)`` (sklearn's builders and pruning add a child after its parent), each node but
  the root the child of exactly one node, all reached from the root (so no cycle);
  a split's ``feature`` in ``[0, n_features)``, its threshold not NaN nor -inf (+inf is what
  sklearn writes for a split that only separates missing values); ``n_node_samples >= 1``,
  ``weighted_n_node_samples`` finite and >= 0, impurity finite, ``missing_go_to_left`` 0/1;
- ``max_depth`` equal to the depth of the deepest leaf (``decision_path`` sizes its buffer
  with it).

Ensembles call their members' trees without checking X again (forests pass
``check_input=False``; gradient boosting's ``predict_stages`` reads ``tree.nodes`` directly), so
every estimator holding a ``tree_`` must have ``n_features_in_`` equal to the tree's
``n_features``, and an ensemble's tree members the ensemble's ``n_features_in_`` (or the length
of their ``estimators_features_`` row, for bagging and isolation forests).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlayer.native_state.arrays import Arrays, Bad, class_of, integer, ints, structured

TREE = "sklearn.tree._tree.Tree"
TREE_LEAF = -1

# sklearn/tree/_tree.pxd's Node, as NODE_DTYPE (sklearn 1.3 - 1.7); intp fields may be 4 or 8
NODE_FIELDS = {
    "left_child": "<i8",
    "right_child": "<i8",
    "feature": "<i8",
    "threshold": "<f8",
    "impurity": "<f8",
    "n_node_samples": "<i8",
    "weighted_n_node_samples": "<f8",
    "missing_go_to_left": "u1",
}


def check_tree(inst: Any, state: Any, arrays: Arrays) -> None:
    """What ``Tree.__setstate__`` is given, against its reduce arguments; Bad on the first flaw."""
    if len(inst.args) != 3:
        raise Bad("Tree(...)", "a Tree made otherwise than Tree.__reduce__ makes it")
    n_features = integer(inst.args[0], "n_features", 1)
    n_outputs = integer(inst.args[2], "n_outputs", 1)
    n_classes = ints(arrays.get(inst.args[1], "n_classes"), "n_classes")
    if len(n_classes) != n_outputs or (n_classes < 1).any():
        raise Bad("n_classes", f"{n_classes.tolist()[:10]} for {n_outputs} outputs")
    if not isinstance(state, dict) or not {"max_depth", "node_count", "nodes", "values"} <= set(
        state
    ):
        raise Bad("state", "not the dict Tree.__getstate__ writes")
    nodes = arrays.get(state["nodes"], "nodes")
    capacity = len(nodes) if nodes.ndim == 1 else 0
    node_count = integer(state["node_count"], "node_count", 1, capacity)
    fields = structured(nodes, "nodes", NODE_FIELDS)
    values = arrays.get(state["values"], "values")
    want = (capacity, n_outputs, int(n_classes.max()))
    if values.dtype.kind != "f" or values.dtype.itemsize != 8 or values.shape != want:
        raise Bad("values", f"{values.dtype} {values.shape}, expected float64 {want}")
    depth = _check_nodes({k: v[:node_count] for k, v in fields.items()}, n_features)
    if integer(state["max_depth"], "max_depth") != depth:
        raise Bad("max_depth", f"{state['max_depth']}, but its deepest leaf is at depth {depth}")
    inst.native_facts = {"n_features": n_features, "n_outputs": n_outputs}


def _at(name: str, where: np.ndarray) -> str:
    return f"nodes['{name}'][{int(np.flatnonzero(where)[0])}]"


def _check_nodes(f: dict[str, np.ndarray], n_features: int) -> int:
    """The node arrays (cut to node_count) form one tree from node 0; returns its depth."""
    left, right = f["left_child"], f["right_child"]
    count = len(left)
    index = np.arange(count)
    leaf = left == TREE_LEAF
    if (leaf != (right == TREE_LEAF)).any():
        raise Bad(_at("right_child", leaf != (right == TREE_LEAF)), "one child is -1, not both")
    split = ~leaf
    for name, child in (("left_child", left), ("right_child", right)):
        bad = split & ((child <= index) | (child >= count))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise Bad(f"nodes['{name}'][{i}]", f"{int(child[i])} is not a later node of {count}")
    parents = np.bincount(np.concatenate([left[split], right[split]]), minlength=count)
    if (parents[1:] != 1).any() or parents[0]:
        i = int(np.flatnonzero(np.concatenate([[parents[0]], parents[1:] - 1]))[0])
        raise Bad(f"nodes[{i}]", f"the child of {int(parents[i])} nodes (a tree node has one)")
    feature = f["feature"]
    bad = split & ((feature < 0) | (feature >= n_features))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise Bad(
            f"nodes['feature'][{i}]", f"{int(feature[i])} is not one of {n_features} features"
        )
    threshold = f["threshold"]
    if (split & (np.isnan(threshold) | (threshold == -np.inf))).any():
        raise Bad(_at("threshold", split & ~(threshold > -np.inf)), "NaN or -inf")
    if (f["n_node_samples"] < 1).any():
        raise Bad(_at("n_node_samples", f["n_node_samples"] < 1), "below 1")
    weighted = f["weighted_n_node_samples"]
    if not (np.isfinite(weighted) & (weighted >= 0)).all():
        raise Bad(_at("weighted_n_node_samples", ~(weighted >= 0)), "not finite and >= 0")
    if not np.isfinite(f["impurity"]).all():
        raise Bad(_at("impurity", ~np.isfinite(f["impurity"])), "not finite")
    if (f["missing_go_to_left"] > 1).any():
        raise Bad(_at("missing_go_to_left", f["missing_go_to_left"] > 1), "not 0 or 1")
    return _depth(left, right, split)


def _depth(left: np.ndarray, right: np.ndarray, split: np.ndarray) -> int:
    """Depth of the deepest node (the tree is checked first): pointer jumping, each round
    doubles how far up every node has counted, so log2(depth) rounds of numpy."""
    ancestor = np.full(len(left), -1, dtype=np.int64)
    parents = np.flatnonzero(split)
    ancestor[left[split]] = ancestor[right[split]] = parents
    distance = (ancestor >= 0).astype(np.int64)
    while True:
        up = np.flatnonzero(ancestor >= 0)
        if not len(up):
            return int(distance.max())
        step = ancestor[up]
        distance[up] += distance[step]
        ancestor[up] = ancestor[step]


def check_tree_owner(merged: dict, tree: Any) -> None:
    """An estimator holding a ``tree_``: X is checked against its n_features_in_ only."""
    facts = getattr(tree, "native_facts", None)
    if getattr(tree, "native_checked", None) is False:
        return  # its own flaw is reported already
    if class_of(tree) != TREE or facts is None:
        raise Bad("tree_", f"{class_of(tree)} where a checked Tree is expected")
    n_features = integer(merged.get("n_features_in_"), "n_features_in_", 1)
    if n_features != facts["n_features"]:
        raise Bad("n_features_in_", f"{n_features}, but its tree_ has {facts['n_features']}")


def check_ensemble(merged: dict, arrays: Arrays) -> None:
    """Tree members get X as the ensemble checked it (or the columns bagging picks)."""
    members = merged["estimators_"]
    if isinstance(members, list):
        elements = members
    else:
        _, elements = arrays.objects(members, "estimators_")
    trees = [m for m in elements if isinstance(getattr(m, "native_merged", None), dict)]
    trees = {id(m) for m in trees if "tree_" in m.native_merged}
    if not trees:
        return
    width = integer(merged.get("n_features_in_"), "n_features_in_", 1)
    columns = merged.get("estimators_features_")
    for i, member in enumerate(elements):
        if id(member) not in trees:
            continue
        want = width
        if columns is not None:
            if not isinstance(columns, list) or len(columns) != len(elements):
                raise Bad("estimators_features_", "not one list entry per estimator")
            want = len(ints(arrays.get(columns[i], f"estimators_features_[{i}]"), "features"))
        got = member.native_merged.get("n_features_in_")
        if integer(got, f"estimators_[{i}].n_features_in_", 1) != want:
            raise Bad(f"estimators_[{i}].n_features_in_", f"{got}, but it is given {want}")
    if not isinstance(members, list):
        shape, _ = arrays.objects(members, "estimators_")
        k = merged.get("n_trees_per_iteration_")
        if len(shape) != 2 or (
            k is not None and shape[1] != integer(k, "n_trees_per_iteration_", 1)
        ):
            raise Bad("estimators_", f"shape {shape} for {k} trees per iteration")
