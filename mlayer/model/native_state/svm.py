"""Support vector machines: the arrays libsvm's ``set_model`` trusts at every predict.

sklearn's SVC/NuSVC/SVR/NuSVR/OneClassSVM (``svm/_base.py``, 1.7) hand their fitted arrays to
libsvm on each predict; ``libsvm_helper.c``'s ``set_model`` (``csr_set_model`` when sparse)
takes ``l = len(support_)`` and ``nr_class = len(_n_support)`` and then reads, unchecked,
``l`` support vectors, ``nr_class - 1`` rows of ``l`` dual coefficients, ``nr_class *
(nr_class - 1) / 2`` intercepts (and probability pairs), and for classification walks the
support vectors class by class with ``_n_support``. With a precomputed kernel each
``support_`` value indexes a column of the kernel matrix X (X is checked to have
``shape_fit_[0]`` columns; with a callable kernel, X becomes ``kernel(X, training X)``, whose
rows must be ``shape_fit_[0]``). So, on every estimator holding libsvm's state:
``_impl`` one of libsvm's five types; ``_n_support`` at least two counts, each >= 0 and summing
to ``len(support_)`` for classification; ``support_`` within ``[0, shape_fit_[0])``;
``_dual_coef_`` of shape ``(nr_class - 1, l)`` (sparse: that many stored values);
``_intercept_`` of ``nr_class * (nr_class - 1) / 2`` values, ``_probA``/``_probB`` of none or
as many; ``support_vectors_`` of ``l`` rows of ``shape_fit_[1]`` features (unused, and empty,
with a precomputed kernel). Sparse index arrays are checked by ``sparse``.
"""

from __future__ import annotations

from typing import Any

from mlayer.model.native_state.arrays import Arrays, Bad, class_of, floats, integer, ints
from mlayer.model.native_state.sparse import sparse_format

LIBSVM_IMPL = ("c_svc", "nu_svc", "one_class", "epsilon_svr", "nu_svr")  # svm/_base.py
IMPL_OF = {  # each class's ``_impl`` (a class attribute, so not in the pickled state)
    "sklearn.svm._classes.SVC": "c_svc",
    "sklearn.svm._classes.NuSVC": "nu_svc",
    "sklearn.svm._classes.OneClassSVM": "one_class",
    "sklearn.svm._classes.SVR": "epsilon_svr",
    "sklearn.svm._classes.NuSVR": "nu_svr",
}


def holds_libsvm(merged: dict) -> bool:
    """A fitted libsvm estimator (any class whose state has libsvm's arrays)."""
    return "support_" in merged and ("_n_support" in merged or "_dual_coef_" in merged)


def _shape(obj: Any, arrays: Arrays, field: str) -> tuple[int, ...]:
    """An array's or a sparse matrix's shape (its index arrays are the sparse check's)."""
    if sparse_format(class_of(obj)) is not None:
        shape = getattr(obj, "native_merged", {}).get("_shape")
        if not isinstance(shape, tuple):
            raise Bad(field, "a sparse matrix without a shape")
        return shape
    return floats(arrays.get(obj, field), field).shape


def check_svm(name: str, merged: dict, arrays: Arrays) -> None:
    impl = merged.get("_impl", IMPL_OF.get(name))
    if impl not in LIBSVM_IMPL:
        raise Bad("_impl", f"{name} with libsvm's state is not an SVM class mlayer checks")
    fit = merged.get("shape_fit_")
    if not (isinstance(fit, tuple) and len(fit) == 2):
        raise Bad("shape_fit_", "not (rows, features)")
    rows, features = (integer(d, "shape_fit_", 0) for d in fit)
    support = ints(arrays.get(merged["support_"], "support_"), "support_")
    count = len(support)
    if count and (support.min() < 0 or support.max() >= rows):
        raise Bad("support_", f"an index outside the {rows} training rows")
    counts = ints(arrays.get(merged.get("_n_support"), "_n_support"), "_n_support")
    classes = len(counts)
    if classes < 2:
        raise Bad("_n_support", f"{classes} classes")
    if LIBSVM_IMPL.index(impl) < 2 and ((counts < 0).any() or int(counts.sum()) != count):
        raise Bad("_n_support", f"{counts.tolist()[:10]} do not add up to {count} support vectors")
    pairs = classes * (classes - 1) // 2
    _check_dual(merged.get("_dual_coef_"), arrays, classes, count)
    if len(floats(arrays.get(merged.get("_intercept_"), "_intercept_"), "_intercept_", 1)) != pairs:
        raise Bad("_intercept_", f"not {pairs} values for {classes} classes")
    for key in ("_probA", "_probB"):
        if len(floats(arrays.get(merged.get(key), key), key, 1)) not in (0, pairs):
            raise Bad(key, f"neither empty nor {pairs} values")
    kernel = merged.get("kernel")
    if not isinstance(kernel, str):  # a callable: libsvm gets kernel(X, training X) instead
        fitted = _shape(merged.get("_BaseLibSVM__Xfit"), arrays, "_BaseLibSVM__Xfit")
        if fitted[:1] != (rows,):
            raise Bad("_BaseLibSVM__Xfit", f"shape {fitted}, expected {rows} rows")
        return
    vectors = _shape(merged.get("support_vectors_"), arrays, "support_vectors_")
    if kernel != "precomputed" and vectors != (count, features):
        raise Bad("support_vectors_", f"shape {vectors}, expected {(count, features)}")


def _check_dual(dual: Any, arrays: Arrays, classes: int, count: int) -> None:
    want = (classes - 1, count)
    if sparse_format(class_of(dual)) is not None:
        state = getattr(dual, "native_merged", {})
        data = arrays.get(state.get("data"), "_dual_coef_.data")
        if state.get("_shape") != want or len(data) != want[0] * want[1]:
            raise Bad("_dual_coef_", f"not {want[0] * want[1]} stored values of shape {want}")
        return
    shape = floats(arrays.get(dual, "_dual_coef_"), "_dual_coef_", 2).shape
    if shape != want:
        raise Bad("_dual_coef_", f"shape {shape}, expected {want}")
