"""The native-state checks: genuine models of every family pass, each kind of edit is refused
by object path and field, and the layouts mlayer expects are the installed scikit-learn's."""

from __future__ import annotations

import io
import pickle

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from native_state_support import (
    Reduced,
    dump,
    edited_binary_tree,
    edited_tree,
    genuine,
)
from sklearn.metrics._dist_metrics import MahalanobisDistance64
from sklearn.neighbors import BallTree
from sklearn.neighbors._kd_tree import newObj

from mlayer.errors import UntrustedPickleError
from mlayer.model.native_state import hist_trees, neighbors, trees
from mlayer.model.pickles import scan_bytes, scan_file

MODELS = genuine()


def joblib_bytes(obj, compress: int = 0) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(obj, buffer, compress=compress)
    return buffer.getvalue()


def refusal(obj) -> str:
    with pytest.raises(UntrustedPickleError) as caught:
        scan_bytes(joblib_bytes(obj))
    return caught.value.message


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("form", ["joblib", "joblib-zlib", "pickle-2", "pickle-5"])
def test_genuine_models_of_every_family_pass(name, form):
    model = MODELS[name]
    if form.startswith("joblib"):
        data = joblib_bytes(model, compress=3 if form.endswith("zlib") else 0)
    else:
        data = pickle.dumps(model, protocol=int(form[-1]))
    assert scan_bytes(data).globals


def test_the_layouts_are_the_installed_scikit_learns():
    from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE
    from sklearn.neighbors._kd_tree import NodeData
    from sklearn.tree._tree import NODE_DTYPE

    for ours, theirs in (
        (trees.NODE_FIELDS, NODE_DTYPE),
        (hist_trees.RECORD_FIELDS, PREDICTOR_RECORD_DTYPE),
        (neighbors.NODE_DATA, NodeData),
    ):
        assert list(ours) == list(theirs.names)
        assert [np.dtype(t) for t in ours.values()] == [theirs.fields[n][0] for n in ours]


def _set(field, index, value):
    def edit(state):
        state["nodes"][field][index] = value

    return edit


TREE_EDITS = {
    "left_child": (_set("left_child", 0, 50_000_000), "nodes['left_child'][0]"),
    "cycle": (_set("right_child", 2, 1), "nodes['right_child'][2]"),
    "half-leaf": (_set("right_child", 0, -1), "nodes['right_child'][0]"),
    "feature": (_set("feature", 0, 5), "nodes['feature'][0]"),
    "nan-threshold": (_set("threshold", 0, np.nan), "nodes['threshold'][0]"),
    "node_count": (lambda s: s.update(node_count=10**6), "node_count"),
    "max_depth": (lambda s: s.update(max_depth=0), "max_depth"),
    "values": (lambda s: s.update(values=s["values"][:-1]), "values"),
    "dtype": (lambda s: s.update(nodes=s["nodes"].view(np.float64)), "nodes"),
}


@pytest.mark.parametrize("edit", sorted(TREE_EDITS))
@pytest.mark.parametrize("compress", [0, 3])  # read from the file as it streams / in memory
def test_a_tree_edit_is_refused_by_path_and_field(edit, compress, tmp_path):
    func, field = TREE_EDITS[edit]
    model = genuine()["forest"]
    model.estimators_[3].tree_ = edited_tree(model.estimators_[3].tree_, func)
    path = dump(model, tmp_path / "forest.joblib", compress=compress)
    with pytest.raises(UntrustedPickleError) as caught:
        scan_file(path)
    assert f"model.estimators_[3].tree_: {field}" in caught.value.message
    assert str(path) in caught.value.message


def test_gradient_boosting_members_are_named_by_their_cell():
    model = genuine()["gradient-boosting"]
    cell = model.estimators_[2, 1]
    cell.tree_ = edited_tree(cell.tree_, _set("left_child", 0, -7))
    assert "model.estimators_[2, 1].tree_: nodes['left_child'][0]" in refusal(model)


def test_a_tree_is_checked_against_the_features_its_estimator_is_given():
    model = genuine()["bagging"]
    model.estimators_features_[1] = model.estimators_features_[1][:2]
    assert "estimators_[1].n_features_in_" in refusal(model)
    model = genuine()["tree"]
    model.n_features_in_ = 9
    assert "model: n_features_in_: 9, but its tree_ has 5" in refusal(model)


def test_a_tree_never_given_its_state_is_refused():
    model = genuine()["tree"]
    model.tree_ = Reduced(type(model.tree_), (5, np.array([2]), 1), None)
    assert "model.tree_: never given the state" in refusal(model)


def test_hist_gradient_boosting_predictor_edits_are_refused():
    for field, index, value, where in (
        ("left", 0, 10**6, "nodes['left'][0]"),
        ("feature_idx", 0, 5, "_predictors: a split on feature 5 of 5"),
        ("is_categorical", 0, 1, "nodes['bitset_idx'][0]"),
    ):
        model = genuine()["hist-gradient-boosting"]
        predictor = model._predictors[1][0]
        predictor.nodes = predictor.nodes.copy()
        predictor.nodes[field][index] = value
        assert where in refusal(model)


@pytest.mark.parametrize("name", ["kd-tree", "ball-tree"])
def test_binary_tree_edits_are_refused(name):
    def set_at(position, index, value, field=None):
        def edit(state):
            target = state[position][field] if field else state[position]
            target[index] = value

        return edit

    for edit, where in (
        (set_at(1, 0, 10**6), "idx_array"),
        (set_at(2, 0, 10**6, "idx_end"), "node_data[0]"),
        (set_at(2, -1, 0, "is_leaf"), "node_data['is_leaf']"),
        (lambda s: s.__setitem__(3, s[3][:, :-1]), "node_bounds"),
        (lambda s: s.__setitem__(6, 10**6), "node_data"),
    ):
        model = genuine()[name]
        model._tree = edited_binary_tree(model, edit)
        assert f"model._tree: {where}" in refusal(model)


def test_a_metric_that_does_not_fit_the_tree_is_refused():
    model = genuine()["ball-tree"]

    def small_metric(state):
        state[11] = Reduced(newObj, (MahalanobisDistance64,), (2.0, np.zeros(1), np.eye(2)))

    model._tree = edited_binary_tree(model, small_metric)
    assert "model._tree: dist_metric.mat: shape (2, 2) for 5 features" in refusal(model)
    tree = BallTree(np.random.default_rng(0).random((30, 3)), metric="mahalanobis", VI=np.eye(3))
    assert "sklearn.neighbors._ball_tree.BallTree" in scan_bytes(joblib_bytes(tree)).globals


@pytest.mark.parametrize(
    "edit, where",
    [
        (lambda m: m.indices.__setitem__(0, 10**6), "indices"),
        (lambda m: m.indptr.__setitem__(3, 10**6), "indptr"),
        (lambda m: setattr(m, "data", m.data[:-1]), "indptr"),
        (lambda m: setattr(m, "_shape", (20, 3)), "indices"),
    ],
)
def test_sparse_edits_are_refused(edit, where):
    matrix = sp.random(20, 10, density=0.3, format="csr", random_state=0)
    edit(matrix)
    assert f"model['m']: {where}" in refusal({"m": matrix})


def test_coo_and_unchecked_sparse_formats():
    coo = sp.coo_matrix(np.eye(4))
    coo.coords = (coo.coords[0], coo.coords[1] + 4)
    assert "model[0]: coords[1]" in refusal([coo])
    assert "lil: mlayer does not check it" in refusal([sp.lil_matrix(np.eye(3))])


def test_a_32_bit_node_array_is_accepted_as_sklearn_accepts_it():
    model = genuine()["tree"]

    def narrow(state):
        nodes = state["nodes"]
        names = nodes.dtype.names
        formats = ["<i4" if nodes.dtype[n].kind == "i" else nodes.dtype[n].str for n in names]
        state["nodes"] = nodes.astype(list(zip(names, formats, strict=True)))

    model.tree_ = edited_tree(model.tree_, narrow)
    assert scan_bytes(joblib_bytes(model)).globals


def test_trees_checked_in_several_batches_are_each_named(monkeypatch):
    from mlayer.model.native_state import tree_nodes

    monkeypatch.setattr(tree_nodes, "BATCH_NODES", 100)
    model = genuine()["forest"]
    for index in (1, 6):
        tree = model.estimators_[index].tree_
        model.estimators_[index].tree_ = edited_tree(tree, _set("feature", 0, 99))
    message = refusal(model)
    for index in (1, 6):
        assert f"model.estimators_[{index}].tree_: nodes['feature'][0]: 99" in message


def test_gradient_boosting_init_must_fill_every_column_of_trees():
    from sklearn.linear_model import LogisticRegression

    model = genuine()["gradient-boosting"]
    model.init_.class_prior_ = model.init_.class_prior_[:2]
    assert "model: init_: 3 classes ((2,) priors) for 3 columns" in refusal(model)
    model = genuine()["gradient-boosting"]
    model.init_ = LogisticRegression()
    assert "init_: sklearn.linear_model._logistic.LogisticRegression" in refusal(model)
    model = genuine()["gradient-boosting"]
    model.init_ = "zero"
    assert scan_bytes(joblib_bytes(model)).globals


@pytest.mark.parametrize(
    "name, edit, where",
    [
        ("svc", lambda m: setattr(m, "_n_support", m._n_support + 1), "_n_support"),
        ("svc", lambda m: setattr(m, "support_vectors_", m.support_vectors_[:-1]), "support_vec"),
        ("svc", lambda m: setattr(m, "_dual_coef_", m._dual_coef_[:, :-1]), "_dual_coef_"),
        ("svc", lambda m: setattr(m, "_intercept_", m._intercept_[:1]), "_intercept_"),
        ("svc", lambda m: setattr(m, "_probA", m._probA[:1]), "_probA"),
        ("svr", lambda m: m.support_.__setitem__(0, 10**6), "support_"),
        ("sparse-svc", lambda m: setattr(m, "_dual_coef_", m._dual_coef_[:, :-1]), "_dual_coef_"),
        ("sparse-svc", lambda m: m.support_vectors_.indices.__setitem__(0, 99), "support_vectors_"),
    ],
)
def test_libsvm_state_edits_are_refused(name, edit, where):
    model = genuine()[name]
    edit(model)
    assert f"model: {where}" in refusal(model) or f"model.{where}" in refusal(model)


def test_a_precomputed_kernel_svm_passes_and_its_support_is_bounded():
    from sklearn.svm import SVC

    x = np.random.default_rng(0).random((30, 3))
    model = SVC(kernel="precomputed").fit(x @ x.T, [0, 1, 2] * 10)
    assert scan_bytes(joblib_bytes(model)).globals
    model.support_[0] = 30
    assert "model: support_: an index outside the 30 training rows" in refusal(model)


def test_cluster_centers_and_brute_force_neighbours_fit_the_features():
    model = genuine()["kmeans"]
    model.cluster_centers_ = model.cluster_centers_[:, :2].copy()
    assert "model: cluster_centers_: shape (3, 2) for 5 features" in refusal(model)
    from sklearn.cluster import BisectingKMeans

    model = BisectingKMeans(3, random_state=0).fit(np.random.default_rng(0).random((40, 5)))
    trusted = ["sklearn.cluster._kmeans._kmeans_single_lloyd"]  # a function it keeps
    assert scan_bytes(joblib_bytes(model), trusted).globals
    model._bisecting_tree.right.center = model._bisecting_tree.right.center[:3].copy()
    with pytest.raises(UntrustedPickleError, match=r"_bisecting_tree.right.center: shape \(3,\)"):
        scan_bytes(joblib_bytes(model), trusted)
    model = genuine()["knn-brute"]
    model._fit_X = model._fit_X[:, :4].copy()
    assert "model: _fit_X: shape (200, 4) for 5 features" in refusal(model)


def test_hist_gradient_boosting_preprocessor_must_emit_what_its_predictors_read():
    from sklearn.ensemble import HistGradientBoostingClassifier

    x = np.random.default_rng(0).random((200, 4))
    x[:, 3] = np.random.default_rng(1).integers(0, 5, 200)
    model = HistGradientBoostingClassifier(max_iter=3, categorical_features=[3])
    model.fit(x, (x[:, 0] > 0.5).astype(int))
    trusted = ["sklearn.utils.validation.check_array"]  # its FunctionTransformer's function
    assert scan_bytes(joblib_bytes(model), trusted).globals
    name, numeric, _ = model._preprocessor.transformers_[1]
    model._preprocessor.transformers_[1] = (name, numeric, np.array([True, True, False, False]))
    with pytest.raises(UntrustedPickleError, match="emits 3 columns, its predictors read 4"):
        scan_bytes(joblib_bytes(model), trusted)


def test_a_state_given_as_a_filled_ordered_dict_is_checked_too():
    import copyreg
    from collections import OrderedDict

    from sklearn.tree import DecisionTreeClassifier

    new = copyreg._reconstructor  # object.__new__(cls): no __init__ runs

    model = genuine()["tree"]
    state = OrderedDict(model.__getstate__())
    state["tree_"] = Reduced(type(model.tree_), (5, np.array([2]), 1), None)  # never given nodes
    assert "model.tree_: never given the state" in refusal(
        Reduced(new, (DecisionTreeClassifier, object, None), state)
    )
    state = OrderedDict(model.__getstate__())
    state["n_features_in_"] = 3
    assert "n_features_in_: 3, but its tree_ has 5" in refusal(
        Reduced(new, (DecisionTreeClassifier, object, None), state)
    )


def test_a_callable_kernel_svm_passes_and_its_training_rows_are_bounded():
    from sklearn.metrics.pairwise import rbf_kernel
    from sklearn.svm import SVC

    x = np.random.default_rng(0).random((40, 3))
    model = SVC(kernel=rbf_kernel).fit(x, [0, 1] * 20)
    assert scan_bytes(joblib_bytes(model)).globals
    model._BaseLibSVM__Xfit = x[:10]
    assert "model: _BaseLibSVM__Xfit: shape (10, 3), expected 40 rows" in refusal(model)
