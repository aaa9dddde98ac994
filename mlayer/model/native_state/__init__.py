"""Check, before loading, the state of objects whose native code indexes memory unchecked.

The allowlist (mlayer.model.trust) judges which classes a pickle may build; this judges what some of
them are built *with*. A scikit-learn ``Tree`` whose node array says ``left_child =
50_000_000`` passes ``Tree.__setstate__`` (dtypes and shapes only) and then crashes or reads
memory at the first ``predict``. So the replay (mlayer.model.replay) calls ``Checker.on_build`` at
every BUILD, and ``Checker.finish`` after the last opcode: the states, with the arrays they
refer to rebuilt from the file's own bytes (``numpy.frombuffer``, nothing unpickled), are
checked by one module per family, and any flaw is refused by name: the object's path from the
top object (``model.estimators_[3].tree_``), the field, and why.

Checked (scikit-learn 1.7.2, scipy 1.15.3, numpy 2.2, joblib 1.5; the record layouts also
match scikit-learn 1.3-1.7), one module per family, each docstring saying what and why:
``trees`` + ``tree_nodes`` (sklearn.tree._tree.Tree of every tree estimator and ensemble
member: forests, extra trees, gradient boosting, isolation forest, bagging; the n_features each
is given; gradient boosting's ``init_`` width), ``hist_trees`` + ``column_widths`` (histogram
gradient boosting's TreePredictor nodes and bitsets, and its categorical preprocessor's width),
``neighbors`` (KDTree/BallTree arrays, their DistanceMetric, brute force's ``_fit_X``),
``sparse`` (scipy.sparse csr/csc/bsr/coo/dia wherever they are; lil/dok refused), ``svm``
(what libsvm's ``set_model`` reads), ``clusters`` (k-means centers). Cython ``__setstate__``
(Tree, BinaryTree, DistanceMetric) replaces the state, so each BUILD is checked as it comes;
Python classes (TreePredictor, sparse, estimators) merge their BUILDs into ``__dict__``, so the
merged state is checked at the end. An object of a checked Cython class that the model reaches
but that was never given a checked state, and an array rebuilt after a state used it, are
refused too.

Read and ruled out (scikit-learn 1.7.2's .pyx and the Python that feeds them): ``_loss``
(Cython losses pickle scalars only), ``linear_model._sgd_fast`` losses (``__reduce__`` with
scalars), ``tree._criterion`` and ``_splitter`` (fit-time only, never in a fitted model),
``neighbors._quad_tree`` (TSNE's fit-time tree; TSNE has no transform), liblinear (fit only:
linear models predict with numpy), Birch and NearestCentroid (``pairwise_distances`` checks
both widths). Not covered: ``_hist_gradient_boosting._predictor``'s cast of a categorical X
value to uint8 (X, not state), GradientBoosting with an ``init_`` other than sklearn's own
(refused), classes defined in ``--code`` modules (whatever native code they reach is theirs).
"""

from __future__ import annotations

import functools
from typing import Any

from mlayer.model.native_state import clusters, hist_trees, neighbors, sparse, svm, trees
from mlayer.model.native_state.arrays import Arrays, Bad, class_of
from mlayer.model.native_state.paths import object_paths, reachable
from mlayer.model.native_state.tree_nodes import NodeBatch
from mlayer.model.stubs import Stub


class Checker:
    """One scan's native-state checks: fed by the replay, read once by mlayer.model.pickles."""

    def __init__(self, fh, buffer: bytes | None = None) -> None:
        self.arrays = Arrays(fh, buffer)  # buffer: the bytes fh reads, if in memory
        self.failures: list[tuple[Any, str]] = []  # (object, "field: why")
        self.tree_nodes = NodeBatch()

    def on_build(self, inst: Any, state: Any) -> None:
        """A BUILD of ``inst``: merge a dict state (as ``__dict__.update`` does); check a state
        that a Cython ``__setstate__`` takes whole."""
        name = class_of(inst)
        merged = _as_dict(state, sparse.sparse_format(name) == "coo")
        if merged is not None:
            inst.native_merged = {**getattr(inst, "native_merged", {}), **merged}
        check = _check_at_build(name)
        if check is None:
            return
        inst.native_checked = False
        try:
            if check is trees.check_tree:
                trees.check_tree(inst, state, self.arrays, self.tree_nodes)
            else:
                check(inst, state, self.arrays)
            inst.native_checked = True
        except Bad as bad:
            self.failures.append((inst, f"{bad.field}: {bad.why}"))

    def finish(self, top: Any) -> list[str]:
        """Every flaw, each as ``path: field: why`` (empty: nothing to refuse)."""
        for tree, _ in self.tree_nodes.flush():
            tree.native_checked = False
        found = self.failures + self.tree_nodes.flaws
        self._predictors: list[tuple[Any, dict]] = []
        for obj in reachable(top).values():
            found.extend((obj, why) for why in self._end_checks(obj))
        found.extend(hist_trees.check_predictors(self._predictors, self.arrays))
        for array, builds, field in self.arrays.used:
            if array.builds != builds:
                found.append((array, f"{field}: an array given a new state after it was checked"))
        if not found:
            return []
        paths = object_paths(top)  # the names of what is refused
        out, seen = [], set()
        for obj, why in found:
            line = f"{paths.get(id(obj), (obj, '(an object the model does not reach)'))[1]}: {why}"
            if line not in seen:
                seen.add(line)
                out.append(line)
        return out

    def _end_checks(self, obj: Any) -> list[str]:
        name = class_of(obj)
        merged = getattr(obj, "native_merged", None)
        if _check_at_build(name) is not None and not hasattr(obj, "native_checked"):
            return ["never given the state its class needs (mlayer refuses it unchecked)"]
        try:
            if neighbors.is_tree(name) and getattr(obj, "native_checked", False):
                neighbors.check_tree_metric(obj)
            fmt = sparse.sparse_format(name)
            if fmt is not None:
                sparse.check_sparse(fmt, merged if isinstance(merged, dict) else {}, self.arrays)
            if not isinstance(merged, dict):
                return []
            if name == hist_trees.PREDICTOR:
                self._predictors.append((obj, merged))  # checked together, after the walk
            if "tree_" in merged:
                trees.check_tree_owner(merged, merged["tree_"])
            if "estimators_" in merged and trees.calls_unchecked(name):
                trees.check_ensemble(merged, self.arrays)
            if "_predictors" in merged:
                hist_trees.check_estimator(merged, self.arrays)
            if svm.holds_libsvm(merged):
                svm.check_svm(name, merged, self.arrays)
            if clusters.is_kmeans(name):
                clusters.check_kmeans(name, merged, self.arrays)
            if neighbors.holds_fit_x(merged):
                neighbors.check_estimator(merged, self.arrays)
        except Bad as bad:
            return [f"{bad.field}: {bad.why}"]
        return []


@functools.lru_cache(maxsize=1024)
def _check_at_build(name: str):
    """The check of a class whose Cython ``__setstate__`` takes the state whole, or None."""
    if name == trees.TREE:
        return trees.check_tree
    if neighbors.is_tree(name):
        return neighbors.check_tree
    return neighbors.check_metric if neighbors.is_metric(name) else None


def _as_dict(state: Any, coo: bool) -> dict | None:
    """The entries a BUILD puts into ``__dict__`` (a dict, a (dict, slots) pair, or a dict
    subclass the pickle built and filled, e.g. an OrderedDict)."""
    if isinstance(state, Stub) and state.items and all(type(k) is str for k, _ in state.items):
        state = dict(state.items)
    if (
        isinstance(state, tuple)
        and len(state) == 2
        and all(s is None or isinstance(s, dict) for s in state)
    ):
        state = {**(state[0] or {}), **(state[1] or {})}
    if not isinstance(state, dict):
        return None
    if coo and "coords" not in state and "row" in state and "col" in state:
        coords = (state["row"], state["col"])
        state = {k: v for k, v in state.items() if k not in ("row", "col")}
        state["coords"] = coords
    return state
