"""The restore audit's verdicts, as data: the hand-read definers and the families' reasons.

mlayer.model.restore_audit applies them (and its rules read from the installed source); this module
holds only what was read by hand against AUDITED_VERSIONS, so that a new library version's
review is a diff of this file.
"""

from __future__ import annotations

INERT, COMPUTES, CHECKED, NO_CALL, REFUSED = "inert", "computes", "checked", "no-call", "refused"
REBUILD_OK = frozenset({INERT, COMPUTES, CHECKED, NO_CALL})  # NEWOBJ/BUILD path
CALL_OK = frozenset({INERT, COMPUTES, CHECKED})  # the class itself called (REDUCE)

AUDITED_VERSIONS = {"scikit-learn": "1.7.2", "numpy": "2.2.6", "scipy": "1.15.3"}
AUDITED_CLASSES_FILE = "restore_audit_classes.txt"  # every class walked under those versions

REBUILD = ("__new__", "__setstate__", "__setattr__", "__setitem__", "append", "extend", "add")
PYTHON_MODULES = frozenset({"builtins", "collections", "collections.abc", "enum", "abc"})

NUMPY_C = "numpy's C: checks dtype, shape and buffer length before it stores"
CY_AUTO = "Cython's generated state setter: typed fields, arrays of any length, unchecked"
NOT_KEPT = "a fit-time Cython object no fitted model keeps; its native state is unchecked"
MA = "numpy.ma/rec in Python: array assignment; names looked up only among the array's fields"
SPARSE_SET = "scipy.sparse item assignment, indices checked by scipy"

# definer -> (verdict, why). Audited against AUDITED_VERSIONS.
HAND: dict[str, tuple[str, str]] = {
    "sklearn.base.BaseEstimator.__setstate__": (
        INERT,
        "pops _sklearn_version (a version warning), then updates __dict__",
    ),
    "sklearn.isotonic.IsotonicRegression.__setstate__": (
        COMPUTES,
        "BaseEstimator's, then rebuilds its interp1d from the two threshold arrays",
    ),
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor.__setstate__": (
        CHECKED,
        "updates __dict__, casts nodes to its record dtype; the nodes are validated first",
    ),
    "sklearn.tree._tree.Tree.__setstate__": (CHECKED, "node and value arrays, validated first"),
    "sklearn.neighbors._kd_tree.BinaryTree64.__setstate__": (CHECKED, "KD tree arrays"),
    "sklearn.neighbors._kd_tree.BinaryTree32.__setstate__": (CHECKED, "KD tree arrays"),
    "sklearn.neighbors._ball_tree.BinaryTree64.__setstate__": (CHECKED, "ball tree arrays"),
    "sklearn.neighbors._ball_tree.BinaryTree32.__setstate__": (CHECKED, "ball tree arrays"),
    "sklearn.utils._bunch.Bunch.__setattr__": (INERT, "self[key] = value"),
    "sklearn.utils._bunch.Bunch.__setstate__": (INERT, "does nothing (ignores the state)"),
    "scipy.sparse.linalg._interface.LinearOperator.__new__": (
        INERT,
        "object.__new__ (a warning when the subclass lacks _matvec)",
    ),
    "sklearn.utils._metadata_requests.MetadataRouter.add": (INERT, "keyword-only: ADDITEMS fails"),
    "sklearn.utils._metadata_requests.MethodMapping.add": (INERT, "keyword-only: ADDITEMS fails"),
    "sklearn.gaussian_process.kernels.Hyperparameter.__new__": (
        COMPUTES,
        "numpy.atleast_2d on its bounds, then tuple.__new__",
    ),
    "sklearn._loss._loss.CyHalfMultinomialLoss.__setstate__": (INERT, "a loss with no fields"),
    "scipy.sparse._coo.coo_matrix.__setstate__": (
        CHECKED,
        "renames row/col to coords, then updates __dict__; the arrays are validated first",
    ),
    "scipy.sparse._index.IndexMixin.__setitem__": (COMPUTES, SPARSE_SET),
    "scipy.sparse._lil._lil_base.__setitem__": (COMPUTES, SPARSE_SET),
    "scipy.sparse._bsr._bsr_base.__setitem__": (COMPUTES, SPARSE_SET),
    "numpy.random.mtrand.RandomState.__setstate__": (COMPUTES, "numpy sets its bit generator"),
    "numpy.random._generator.Generator.__setstate__": (COMPUTES, "numpy sets its bit generator"),
    "numpy.random.bit_generator.BitGenerator.__setstate__": (
        COMPUTES,
        "the generator's typed state setter (numpy checks its keys and array sizes)",
    ),
    "scipy.stats._distn_infrastructure.rv_generic.__setstate__": (
        REFUSED,
        "execs the pickled _parse_arg_template (_attach_argparser_methods)",
    ),
    "scipy.stats._distn_infrastructure.rv_frozen.__init__": (
        REFUSED,
        "calls dist._updated_ctor_param and dist._parse_args taken from its state",
    ),
}
for _name in ("MaskedArray.__setitem__", "MaskedArray.__setstate__", "MaskedArray.__new__"):
    HAND[f"numpy.ma.{_name}"] = (COMPUTES, MA)
for _name in (
    "ma.core.MaskedConstant.__setattr__",
    "ma.core.MaskedConstant.__new__",
    "ma.core.mvoid.__setitem__",
    "ma.core.mvoid.__new__",
    "ma.mrecords.MaskedRecords.__setattr__",
    "ma.mrecords.MaskedRecords.__setitem__",
    "ma.mrecords.MaskedRecords.__setstate__",
    "ma.mrecords.MaskedRecords.__new__",
    "rec.recarray.__setattr__",
    "rec.recarray.__new__",
    "record.__setattr__",
    "char.chararray.__new__",
    "matrix.__new__",
):
    HAND[f"numpy.{_name}"] = (COMPUTES, MA)
for _bits in ("32", "64"):
    for _cls in ("DistanceMetric", "MahalanobisDistance"):
        HAND[f"sklearn.metrics._dist_metrics.{_cls}{_bits}.__setstate__"] = (
            COMPUTES,
            "sets p and the metric's typed vec/mat arrays (read only by weighted metrics)",
        )
for _cls in ("sklearn.tree._criterion.Criterion", "sklearn.tree._splitter.Splitter"):
    HAND[f"{_cls}.__setstate__"] = (REFUSED, NOT_KEPT)
HAND["sklearn.neighbors._quad_tree._QuadTree.__setstate__"] = (REFUSED, NOT_KEPT)
# Cython's generated setters on classes a fitted model does keep (empty or scalar state)
KEPT_CYTHON = {"sklearn.utils._fast_dict.IntFloatDict"}
# Cython __init__s a fitted model's pickle calls (REDUCE): typed arguments into typed fields
CALLED_CYTHON = ("sklearn._loss._loss.", "sklearn.linear_model._sgd_fast.", "numpy.random.")
