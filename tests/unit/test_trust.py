"""The pickle allowlist: one test per class of entry it accepts, one per class it refuses.

Accepted pickles are real ones (pickle.dumps / joblib.dump of real objects, at every protocol);
refused ones are real pickles of real dangerous callables (a class whose __reduce__ returns
them) or hand-written opcodes for tricks no pickler writes. Nothing here is ever unpickled.
"""

from __future__ import annotations

import builtins
import collections
import functools
import importlib
import io
import os
import pickle
import subprocess
import sys

import joblib
import numpy as np
import pytest
from scipy import sparse, stats
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from mlayer.errors import ModelError, UntrustedPickleError
from mlayer.model import trust
from mlayer.model.pickles import scan_bytes

FORMATS = ["p0", "p2", "p4", "p5", "joblib", "joblib-zlib"]


def encodings(obj) -> dict[str, bytes]:
    out = {f"p{p}": pickle.dumps(obj, protocol=p) for p in (0, 2, 4, 5)}
    for name, compress in (("joblib", 0), ("joblib-zlib", 3)):
        buf = io.BytesIO()
        joblib.dump(obj, buf, compress=compress)
        out[name] = buf.getvalue()
    return out


class Calls:
    """Pickles as ``func(*args)``: how an attacker makes a pickle call anything on load."""

    def __init__(self, func, *args) -> None:
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)


def glob(module: str, name: str) -> bytes:
    """Protocol 4 opcodes pushing a global: SHORT_BINUNICODE module, name, STACK_GLOBAL."""
    return b"\x8c%c%s\x8c%c%s\x93" % (len(module), module.encode(), len(name), name.encode())


def refused(data: bytes, **kw) -> UntrustedPickleError:
    with pytest.raises(UntrustedPickleError) as info:
        scan_bytes(data, **kw)
    return info.value


@pytest.fixture(scope="module")
def xy():
    rng = np.random.default_rng(0)
    return rng.random((60, 4)), np.array([0, 1, 2] * 20)


# --- accepted, one entry class at a time ---------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "make",
    [
        lambda X, y: LogisticRegression().fit(X, y),
        lambda X, y: RandomForestClassifier(
            n_estimators=2, random_state=np.random.RandomState(0)
        ).fit(X, y),
        lambda X, y: HistGradientBoostingClassifier(max_iter=2).fit(X, y),  # Cython losses
        lambda X, y: KNeighborsClassifier().fit(X, y),  # KDTree and its newObj
    ],
    ids=["logistic", "forest", "hist-gb", "knn"],
)
def test_sklearn_estimators_are_accepted(make, fmt, xy):
    model = make(*xy)
    scan = scan_bytes(encodings(model)[fmt])
    cls = type(model)
    assert scan.top_class == f"{cls.__module__}.{cls.__qualname__}"
    assert scan.top_sklearn_version == "1.7.2" and scan.trusted_globals == ()


@pytest.mark.parametrize("fmt", FORMATS)
def test_function_references_are_accepted(fmt, xy):
    """A ufunc given to FunctionTransformer and GridSearchCV's metric are kept as values."""
    pipe = make_pipeline(StandardScaler(), FunctionTransformer(np.abs), LogisticRegression())
    search = GridSearchCV(pipe, {"logisticregression__C": [1, 2]}, cv=2, scoring="accuracy")
    scan = scan_bytes(encodings(search.fit(*xy))[fmt])
    assert "sklearn.metrics._classification.accuracy_score" in scan.globals
    assert scan.top_class == "sklearn.model_selection._search.GridSearchCV"


@pytest.mark.parametrize("fmt", FORMATS)
def test_numpy_arrays_dtypes_scalars_and_generators(fmt):
    obj = [
        np.arange(6.0).reshape(2, 3),
        np.array(["x", None], dtype=object),
        np.zeros(2, dtype=[("a", "<i4"), ("b", "<f8", (2,))]),
        np.asfortranarray(np.ones((2, 2))),
        np.float32(1.5),
        np.int64(2),
        np.dtype("U3"),
        np.ma.masked_array([1, 2], mask=[0, 1]),
        np.random.default_rng(0),
        np.random.RandomState(1),
    ]
    assert scan_bytes(encodings(obj)[fmt]).top_class == "list"


@pytest.mark.parametrize("fmt", FORMATS)
def test_scipy_sparse_and_distributions(fmt):
    obj = [sparse.csr_matrix(np.eye(3)), sparse.coo_array(np.eye(2))]
    scan = scan_bytes(encodings(obj)[fmt])
    assert "scipy.sparse._csr.csr_matrix" in scan.globals
    # scipy.stats' restore path execs pickled code (mlayer.model.restore_audit): --trust only
    frozen = "scipy.stats._distn_infrastructure.rv_continuous_frozen"
    dist = "scipy.stats._continuous_distns.uniform_gen"
    with pytest.raises(UntrustedPickleError) as caught:
        scan_bytes(encodings([stats.uniform(0, 1)])[fmt])
    assert set(caught.value.globals) == {frozen, dist}
    trusted = scan_bytes(encodings([stats.uniform(0, 1)])[fmt], trusted=[frozen, dist])
    assert set(trusted.trusted_globals) == {frozen, dist}


@pytest.mark.parametrize("fmt", FORMATS)
def test_collections_functools_and_builtins(fmt):
    obj = [
        collections.OrderedDict(a=1),
        collections.defaultdict(list, {"k": [1]}),
        collections.Counter("aab"),
        collections.deque([1, 2]),
        functools.partial(np.add, 1),
        {1, 2},
        frozenset([3]),
        slice(1, 5, 2),
        1 + 2j,
        bytearray(b"xy"),
        b"raw",
        range(3),
        type(None),
    ]
    scan_bytes(encodings(obj)[fmt])


def test_copyreg_reconstructor_rebuilds_the_estimator_class(xy):
    scan = scan_bytes(pickle.dumps(LogisticRegression().fit(*xy), protocol=0))
    assert "copyreg._reconstructor" in scan.globals
    assert scan.top_class == "sklearn.linear_model._logistic.LogisticRegression"


def test_code_module_functions_and_classes(tmp_path, monkeypatch):
    (tmp_path / "my_steps.py").write_text(
        "import os\ndef clean(x):\n    return x\nclass Upper:\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("my_steps", None)  # another test's my_steps (from its own folder) is not ours
    mod = importlib.import_module("my_steps")
    try:
        data = pickle.dumps([mod.clean, mod.Upper()])
        scan = scan_bytes(data, code_modules=["my_steps"])
        assert {"my_steps.clean", "my_steps.Upper"} <= set(scan.globals)
        err = refused(data)  # without --code they are nobody's
        assert "my_steps.clean" in err.globals and "--trust my_steps.clean" in err.hint
        # a code module's name reaches only its own attributes, not what they hold
        dotted = b"\x80\x04\x8c\x08my_steps\x8c\tos.system\x93."
        assert refused(dotted, code_modules=["my_steps"]).globals == ("my_steps.os.system",)
    finally:
        sys.modules.pop("my_steps", None)


def test_trust_accepts_exactly_the_reviewed_global_and_records_it():
    data = pickle.dumps(Calls(os.system, "true"))
    assert refused(data).globals == ("posix.system",)
    scan = scan_bytes(data, trusted=["posix.system"])
    assert scan.trusted_globals == ("posix.system",)
    assert refused(data, trusted=["os.system", "posix"]).globals == ("posix.system",)


# --- refused, one class at a time -----------------------------------------------------------


@pytest.mark.parametrize(
    "func, args, named",
    [
        (os.system, ("touch MARKER",), "posix.system"),
        (builtins.exec, ("print(1)",), "builtins.exec"),
        (builtins.eval, ("1",), "builtins.eval"),
        (builtins.getattr, (1, "real"), "builtins.getattr"),
        (builtins.__import__, ("os",), "builtins.__import__"),
        (builtins.compile, ("1", "f", "eval"), "builtins.compile"),
        (builtins.open, ("/etc/passwd",), "io.open"),
        (subprocess.Popen, (["true"],), "subprocess.Popen"),
        (subprocess.check_output, (["true"],), "subprocess.check_output"),
        (importlib.import_module, ("os",), "importlib.import_module"),
        (pickle.loads, (b"",), "pickle.loads"),
        (sys.exit, (0,), "sys.exit"),
        (np.load, ("x.npy",), "numpy.load"),
        (joblib.load, ("x.joblib",), "joblib.numpy_pickle.load"),
        (np.memmap, ("x", "uint8", "w+"), "numpy.memmap"),
        (np.fromfile, ("x",), "numpy.fromfile"),
        (np.testing.assert_equal, (1, 1), "numpy.testing._private.utils.assert_equal"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
@pytest.mark.parametrize("fmt", ["p0", "p2", "p4", "joblib", "joblib-zlib"])
def test_dangerous_callables_are_refused_and_named(func, args, named, fmt):
    payload = {"model": np.arange(4.0), "evil": Calls(func, *args)}
    err = refused(encodings(payload)[fmt])
    (found,) = (g for g in err.globals if g.endswith(named))  # pickle.loads is _pickle.loads at p4
    assert found in err.message and f"--trust {found}" not in err.hint
    assert (
        f"{found} cannot be trusted" in err.hint
    )  # mlayer.model.refusal_hints: no keys handed over


@pytest.mark.parametrize(
    "module, name",
    [
        ("sklearn.utils._testing", "assert_run_python_script_without_output"),
        ("sklearn.datasets", "fetch_openml"),
        ("sklearn.utils", "_joblib"),
        ("sklearn.utils.validation", "Parameter"),  # inspect.Parameter, re-exported
        ("sklearn.base", "clone"),  # a function, not a class
        ("sklearn.base", "os"),  # a module sklearn imports
        ("scipy._lib._ccallback", "LowLevelCallable"),
        ("scipy.io", "savemat"),
        ("numpy.lib._npyio_impl", "load"),
        ("numpy.f2py", "compile"),
        ("numpy._pytesttester", "PytestTester"),
        ("numpy", "vectorize"),  # a numpy class, but not an array, dtype or scalar
        ("joblib.numpy_pickle_compat", "NDArrayWrapper"),  # reads other files
        ("sklearn.no_such_module", "Thing"),
        ("sklearn.linear_model.tests.test_base", "LinearRegression"),
        ("numpy.__main__", "Anything"),
        ("numpy", "f2py"),  # a submodule numpy imports lazily on attribute access
        ("numpy", "testing"),
        ("__main__", "MyScaler"),
    ],
)
def test_denied_inside_the_allowed_packages(module, name):
    err = refused(b"\x80\x04" + glob(module, name) + b")R.")
    assert err.globals == (f"{module}.{name}",)


def test_main_gets_the_code_hint():
    err = refused(b"\x80\x04\x8c\x08__main__\x8c\x08MyScaler\x93)\x81.")
    assert "__main__.MyScaler" in err.message and "--code" in err.hint


def test_dotted_names_are_refused():
    """Protocol 4 resolves 'a.b' attribute by attribute: sklearn.base 'os.system' is os.system."""
    err = refused(b"\x80\x04\x8c\x0csklearn.base\x8c\tos.system\x93\x8c\x04true\x85R.")
    assert err.globals == ("sklearn.base.os.system",)


def test_evil_nested_in_a_tuple_inside_an_estimator(xy):
    model = LogisticRegression().fit(*xy)
    model.extra_ = ((1, [Calls(os.system, "touch MARKER")]),)
    for data in encodings(model).values():
        assert refused(data).globals == ("posix.system",)


def test_python2_names_are_mapped_as_the_unpickler_maps_them():
    err = refused(b"c__builtin__\neval\n(S'1'\ntR.")  # protocol 0: __builtin__ -> builtins
    assert err.globals == ("builtins.eval",)
    assert scan_bytes(b"c__builtin__\nset\n((lp0\nI1\natR.").globals == ("builtins.set",)


def test_references_may_not_be_called():
    data = b"\x80\x04" + glob("sklearn.metrics._classification", "accuracy_score") + b")R."
    assert "may only be referenced" in refused(data).message


@pytest.mark.parametrize(
    "data, what",
    [
        (b"\x80\x04\x8c\x02os\x8c\x03sys\x8c\x04join\x93)R\x8c\x06system\x93.", "computed"),
        (b"\x80\x02\x82\x01.", "EXT1"),
        (b"\x80\x02\x83\x01\x00.", "EXT2"),
        (b"\x80\x02\x84\x01\x00\x00\x00.", "EXT4"),
        (b"(ios\nsystem\nS'true'\no.", "INST"),
        (b"(cos\nsystem\nS'true'\no.", "OBJ"),
        (b"(cbuiltins\nset\no.", "OBJ"),
        (b"Pos.system\n.", "PERSID"),
        (b"\x80\x02X\x01\x00\x00\x00xQ.", "BINPERSID"),
        (b"\x80\x04" + glob("sklearn.base", "BaseEstimator") + b")R)R.", "built inside the"),
    ],
    ids=[
        "computed-name",
        "ext1",
        "ext2",
        "ext4",
        "inst",
        "obj",
        "obj-set",
        "persid",
        "binpersid",
        "call-built",
    ],
)
def test_opcode_tricks_are_refused(data, what):
    err = refused(data)
    assert what in err.message or what.lower() in err.message.lower(), err.message


def test_a_reconstructor_that_calls_what_it_is_given_gets_only_its_own():
    """numpy's RandomState reconstructor calls its second argument: not a metric, not anything."""
    ctor = glob("numpy.random._pickle", "__randomstate_ctor")
    metric = glob("sklearn.metrics._classification", "accuracy_score")
    err = refused(b"\x80\x04" + ctor + b"\x8c\x07MT19937" + metric + b"\x86R.")
    assert "given a callable other than" in err.message
    own = glob("numpy.random._pickle", "__bit_generator_ctor")
    scan_bytes(b"\x80\x04" + ctor + b"\x8c\x07MT19937" + own + b"\x86R.")


def test_computed_name_from_an_allowed_constructor():
    """str(b'system') is a call the real unpickler would make; its result may not name a global."""
    data = b"\x80\x04\x8c\x05posix\x8c\x08builtins\x8c\x03str\x93\x8c\x06system\x85R\x93."
    assert "computed" in refused(data).message


def test_numpy_array_wrapper_only_as_joblib_writes_it():
    w = glob("joblib.numpy_pickle", "NumpyArrayWrapper")
    # NumpyArrayWrapper(...) called with arguments: joblib never writes that
    assert "otherwise than joblib" in refused(b"\x80\x04" + w + b"K\x01\x85R}b.").message
    # handed to a constructor that returns an instance of it (sklearn's Cython newObj)
    newobj = glob("sklearn.metrics._dist_metrics", "newObj")
    assert "passed to a call" in refused(b"\x80\x04" + newobj + w + b"\x85R}b.").message
    # a state that replaces the wrapper's own read(): joblib would call slice(), read nothing
    own_read = b"\x80\x04" + w + b")\x81}\x8c\x04read" + glob("builtins", "slice") + b"sb."
    assert "unusual state" in refused(own_read).message
    # a dtype numpy would share (copy=False): the scan never mutates numpy's own dtypes
    shared = glob("numpy", "dtype") + b"\x8c\x02f8\x89\x89\x87R"
    state = b"}(\x8c\x05shapeK\x01\x85\x8c\x05dtype" + shared + b"u"
    assert "does not build" in refused(b"\x80\x04" + w + b")\x81" + state + b"b.").message


def test_allowlist_is_data_in_one_place():
    assert "copyreg._reconstructor" in trust.CONSTRUCTORS
    assert set(trust.CLASS_PACKAGES) == {"sklearn", "numpy", "scipy.sparse"}
    assert "numpy.testing" in trust.DENIED_MODULES and "load" in trust.DENIED_NAMES
    for qualname in trust.CONSTRUCTORS:
        verdict = trust.Policy().judge(*qualname.rsplit(".", 1))
        assert verdict.kind == trust.CALL, qualname


def test_garbage_is_a_model_error_not_a_refusal():
    with pytest.raises(ModelError) as info:
        scan_bytes(b"\x80\x04garbage")
    assert not isinstance(info.value, UntrustedPickleError)


def test_a_code_module_named_like_a_standard_one_grants_nothing():
    data = pickle.dumps(Calls(builtins.exec, "1"))
    assert refused(data, code_modules=["builtins", "posix"]).globals == ("builtins.exec",)
