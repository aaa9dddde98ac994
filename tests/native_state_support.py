"""Genuine models, and the same models with one field of a native object's state edited.

Each hostile file is a real joblib.dump: the edited object pickles through a stand-in whose
``__reduce__`` names the real class (sklearn's Tree, KDTree's ``newObj``) with the edited state,
exactly the bytes scikit-learn would have written had its state held those values. Loading
one runs in a child process (``load_and_predict``): a negative return code is a crash.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import scipy.sparse as sp
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.ensemble import (
    BaggingClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    IsolationForest,
    RandomForestClassifier,
    StackingClassifier,
)
from sklearn.neighbors import KernelDensity, KNeighborsClassifier
from sklearn.neighbors._kd_tree import newObj
from sklearn.svm import SVC, SVR, OneClassSVM
from sklearn.tree import DecisionTreeClassifier
from sklearn.tree._tree import Tree

RNG = np.random.default_rng(0)
X = RNG.random((200, 5))
Y = (X[:, 0] + 0.3 * RNG.random(200) > 0.6).astype(int)
X_MISSING = np.where(RNG.random(X.shape) < 0.1, np.nan, X)  # +inf thresholds split them off


def genuine() -> dict[str, Any]:
    """One fitted model per family the scan checks (small: these are dumped many times)."""
    return {
        "tree": DecisionTreeClassifier(random_state=0).fit(X, Y),
        "forest": RandomForestClassifier(8, random_state=0).fit(X, Y),
        "extra-trees": ExtraTreesRegressor(5, random_state=0).fit(X, X[:, 1]),
        "gradient-boosting": GradientBoostingClassifier(n_estimators=5).fit(
            X, RNG.integers(0, 3, 200)
        ),
        "hist-gradient-boosting": HistGradientBoostingClassifier(max_iter=5).fit(X, Y),
        "isolation-forest": IsolationForest(n_estimators=5, max_features=3, random_state=0).fit(X),
        "bagging": BaggingClassifier(DecisionTreeClassifier(), n_estimators=4, max_features=3).fit(
            X, Y
        ),
        "kd-tree": KNeighborsClassifier(algorithm="kd_tree", leaf_size=5).fit(X, Y),
        "ball-tree": KNeighborsClassifier(algorithm="ball_tree", leaf_size=5).fit(X, Y),
        "sparse": {"csr": sp.random(20, 10, density=0.3, format="csr", random_state=0)},
        "svc": SVC(probability=True, random_state=0).fit(X, RNG.integers(0, 3, 200)),
        "svr": SVR().fit(X, X[:, 1]),
        "sparse-svc": SVC().fit(sp.csr_matrix(X), Y),
        "one-class-svm": OneClassSVM().fit(X),
        "kmeans": KMeans(3, n_init=1, random_state=0).fit(X),
        "minibatch-kmeans": MiniBatchKMeans(3, n_init=1, random_state=0).fit(X),
        "knn-brute": KNeighborsClassifier(algorithm="brute").fit(X, Y),
        "kernel-density": KernelDensity().fit(X),  # its tree_ is a KDTree
        "stacking": StackingClassifier([("tree", DecisionTreeClassifier())]).fit(X, Y),
        "tree-missing-values": DecisionTreeClassifier(random_state=0).fit(X_MISSING, Y),
    }


class Reduced:
    """Pickles as ``func(*args)`` then BUILD ``state``: an object's state, edited."""

    def __init__(self, func: Callable, args: tuple, state: Any) -> None:
        self.func, self.args, self.state = func, args, state

    def __reduce__(self):
        return (self.func, self.args, self.state)


def edited_tree(tree: Tree, edit: Callable[[dict], None]) -> Reduced:
    """``tree``'s state (a copy) after ``edit(state)``, pickled as sklearn's Tree."""
    state = tree.__getstate__()
    state["nodes"], state["values"] = state["nodes"].copy(), state["values"].copy()
    edit(state)
    return Reduced(Tree, (tree.n_features, tree.n_classes.copy(), tree.n_outputs), state)


def edited_binary_tree(knn, edit: Callable[[list], None]) -> Reduced:
    state = [x.copy() if isinstance(x, np.ndarray) else x for x in knn._tree.__getstate__()]
    edit(state)
    return Reduced(newObj, (type(knn._tree),), tuple(state))


def dump(obj: Any, path: Path, compress: int = 0) -> Path:
    joblib.dump(obj, path, compress=compress)
    return path


CHILD = r"""
import sys, warnings
import joblib, numpy as np
warnings.simplefilter("ignore")
obj = joblib.load(sys.argv[1])
X = np.random.default_rng(1).random((50, 5))
if hasattr(obj, "predict"):
    obj.predict(X)
    if hasattr(obj, "decision_path"):
        obj.decision_path(X)
    if hasattr(obj, "kneighbors"):
        obj.kneighbors(X)
        obj.radius_neighbors(X, radius=0.5)
else:
    for m in obj.values():
        m @ np.ones(m.shape[1]); m.tocsc().tocoo().tocsr(); m.toarray(); m.T @ m
"""


def load_and_predict(path: Path) -> subprocess.CompletedProcess:
    """joblib.load + predict in a child Python: its return code is negative if it crashed."""
    return subprocess.run(
        [sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, timeout=120
    )
