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
of their ``estimators_features_`` row, for bagging and isolation forests). Gradient
boosting's ``predict_stages`` adds each column of ``estimators_`` into the raw predictions its
``init_`` made (``out[i, k]``, unchecked): ``init_`` must be ``'zero'`` or sklearn's
DummyClassifier/DummyRegressor yielding one column per column of trees.
"""

from __future__ import annotations

from typing import Any

from mlayer.model.native_state.arrays import Arrays, Bad, class_of, integer, ints, records
from mlayer.model.native_state.tree_nodes import NodeBatch, Queued

TREE = "sklearn.tree._tree.Tree"

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


def check_tree(inst: Any, state: Any, arrays: Arrays, batch: NodeBatch) -> None:
    """What ``Tree.__setstate__`` is given, against its reduce arguments: Bad on a flaw of the
    layout; the nodes themselves are queued for ``tree_nodes`` (checked many trees at once)."""
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
    nodes = records(nodes, "nodes", NODE_FIELDS)
    dtype, shape = arrays.meta(state["values"], "values")  # its shape, not its bytes
    want = (capacity, n_outputs, int(n_classes.max()))
    if dtype.kind != "f" or dtype.itemsize != 8 or shape != want:
        raise Bad("values", f"{dtype} {shape}, expected float64 {want}")
    max_depth = integer(state["max_depth"], "max_depth")
    batch.add(Queued(inst, nodes[:node_count], n_features, max_depth))
    inst.native_facts = {"n_features": n_features, "n_outputs": n_outputs}


def check_tree_owner(merged: dict, tree: Any) -> None:
    """An estimator holding a ``tree_``: X is checked against its n_features_in_ only."""
    facts = getattr(tree, "native_facts", None)
    if getattr(tree, "native_checked", None) is False or class_of(tree) != TREE:
        return  # its own flaw is reported already, or not sklearn's Tree (KernelDensity's KDTree)
    if class_of(tree) != TREE or facts is None:
        raise Bad("tree_", f"{class_of(tree)} where a checked Tree is expected")
    n_features = integer(merged.get("n_features_in_"), "n_features_in_", 1)
    if n_features != facts["n_features"]:
        raise Bad("n_features_in_", f"{n_features}, but its tree_ has {facts['n_features']}")


# Ensembles that call their trees with check_input=False (or read tree.nodes themselves);
# the others (voting, stacking, AdaBoost, multi-output, ...) call each member's own predict
UNCHECKED_CALLERS = (
    "sklearn.ensemble._forest.",
    "sklearn.ensemble._gb.",
    "sklearn.ensemble._bagging.",
    "sklearn.ensemble._iforest.",
)


def calls_unchecked(name: str) -> bool:
    return name.startswith(UNCHECKED_CALLERS)


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
        if "init_" in merged:
            check_boosting_init(merged["init_"], shape[1], arrays)


DUMMY_CLASSIFIER, DUMMY_REGRESSOR = "sklearn.dummy.DummyClassifier", "sklearn.dummy.DummyRegressor"


def check_boosting_init(init: Any, columns: int, arrays: Arrays) -> None:
    """Gradient boosting's ``predict_stages`` writes ``out[i, k]`` for each of the
    ``estimators_`` columns into the raw predictions its ``init_`` made: that estimator must
    yield at least as many. Bounded for sklearn's own inits (DummyClassifier, DummyRegressor,
    'zero'); any other init is refused, as mlayer cannot tell its output's width."""
    if init == "zero":
        return  # np.zeros((n, n_trees_per_iteration_)), checked above
    state = getattr(init, "native_merged", None)
    name = class_of(init)
    if name not in (DUMMY_CLASSIFIER, DUMMY_REGRESSOR) or not isinstance(state, dict):
        raise Bad("init_", f"{name}: mlayer bounds gradient boosting's default init only")
    if integer(state.get("n_outputs_"), "init_.n_outputs_", 1, 1) and columns == 1:
        return  # a binary or regression model: one column, predict_proba's [:, 1] is checked
    if name == DUMMY_REGRESSOR:
        raise Bad("init_", f"a DummyRegressor under {columns} columns of trees")
    prior = arrays.get(state.get("class_prior_"), "init_.class_prior_")
    n_classes = integer(state.get("n_classes_"), "init_.n_classes_", 1)
    if prior.shape != (columns,) or n_classes != columns:
        raise Bad("init_", f"{n_classes} classes ({prior.shape} priors) for {columns} columns")
