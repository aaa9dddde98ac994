"""Genuine models, and the same models with one field of a native object's state edited.

Each hostile file is a real joblib.dump: the edited object pickles through a stand-in whose
``__reduce__`` names the real class (sklearn's Tree, KDTree's ``newObj``) with the edited state,
exactly the bytes scikit-learn would have written had its state held those values. Loading
one runs in a child process (``load_and_predict``): a negative return code is a crash.
"""

from __future__ import annotations

import atexit
import copy
import functools
import os
import select
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
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


class _Fresh(Mapping[str, Any]):
    """The fitted models by family; each lookup is a deep copy, free for its caller to edit."""

    def __init__(self, fitted: dict[str, Any]) -> None:
        self._fitted = fitted

    def __getitem__(self, name: str) -> Any:
        return copy.deepcopy(self._fitted[name])

    def __iter__(self) -> Iterator[str]:
        return iter(self._fitted)

    def __len__(self) -> int:
        return len(self._fitted)


def genuine() -> Mapping[str, Any]:
    """One fitted model per family the scan checks (small: these are dumped many times).

    Fitted once per process; every lookup hands out a copy of its own (tests edit them)."""
    return _Fresh(_fitted())


@functools.cache
def _fitted() -> dict[str, Any]:
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

# A child Python that imports the stack once, then forks one fresh process per file to run
# CHILD in: each load still happens in its own process (a crash kills only that fork, and its
# signal is reported), without paying the ~1 s import of scikit-learn per fuzzed example.
# One thread for BLAS/OpenMP: nothing in the parent starts a pool its forks would inherit.
ZYGOTE = r"""
import os, sys, traceback
import joblib, numpy, scipy.sparse
import sklearn.cluster, sklearn.ensemble, sklearn.neighbors, sklearn.svm, sklearn.tree
child = compile(sys.argv[1], "<child>", "exec")
for line in sys.stdin:
    path, err = line.rstrip("\n").split("\t")
    pid = os.fork()
    if pid == 0:
        fd = os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(fd, 2)
        sys.argv = ["-c", path]
        try:
            exec(child, {"__name__": "__main__"})
        except SystemExit as exc:
            os._exit(exc.code if isinstance(exc.code, int) else 1)
        except BaseException:
            traceback.print_exc()
            sys.stderr.flush()
            os._exit(1)
        sys.stderr.flush()
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    print(-os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status), flush=True)
"""
_zygote: subprocess.Popen | None = None


def _forker() -> subprocess.Popen:
    global _zygote
    if _zygote is None or _zygote.poll() is not None:
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
        _zygote = subprocess.Popen(
            [sys.executable, "-c", ZYGOTE, CHILD],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        atexit.register(_zygote.kill)
    return _zygote


def load_and_predict(path: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """joblib.load + predict in a child process of its own (forked from a Python that has the
    stack imported): its return code is negative if it crashed, as a fresh ``python -c`` is."""
    zygote = _forker()
    assert zygote.stdin is not None and zygote.stdout is not None
    err = path.with_name(path.name + ".stderr")
    zygote.stdin.write(f"{path}\t{err}\n")
    zygote.stdin.flush()
    ready, _, _ = select.select([zygote.stdout], [], [], timeout)
    if not ready:
        zygote.kill()
        raise subprocess.TimeoutExpired(str(path), timeout)
    answer = zygote.stdout.readline()
    if not answer:
        raise RuntimeError(f"the forking child Python died (code {zygote.wait()})")
    code = int(answer)
    stderr = err.read_text(errors="replace") if err.exists() else ""
    return subprocess.CompletedProcess([str(path)], code, "", stderr)
