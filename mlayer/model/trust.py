"""Which globals a model's pickle may name: the allowlist, as data, and the one verdict over it.

A pickle runs whatever its globals name, so before joblib.load mlayer accepts only what a
scikit-learn model needs to be rebuilt: classes defined by scikit-learn, numpy's array, dtype,
scalar and random-generator classes, scipy's sparse and stats classes, the reconstructor
functions those libraries and joblib pickle through, and a few builtins, ``copyreg``,
``collections`` and ``functools`` constructors. A global is accepted in one of two roles:
``call`` (the pickle may call it while loading: a class or a reconstructor) or ``ref`` (it may
only sit in the model as a value, e.g. the metric a ``GridSearchCV`` scores with, a ufunc given
to ``FunctionTransformer``). The user's ``--code`` modules and each ``--trust MODULE.NAME`` are
accepted as ``call``; trusted ones are recorded in the manifest.

Class rules resolve the name in the *installed* library (importing a scikit-learn/numpy/scipy
module the pickle names, never the pickle): ``sklearn.base.os`` or ``numpy.lib.npyio.load``
are not classes of the library and stay refused, whatever module re-exports them. Modules and
names that read, write or run things (testing helpers, dataset fetchers, ``numpy.load``,
``numpy.memmap``, ``scipy.io``, ...) are denied even inside the allowed packages.

Why not a library: fickling 0.1.12 (LGPL-3.0) declares ``typing_extensions`` only as a dev
extra on Python < 3.12 (its import fails on 3.11), calls a plain scikit-learn joblib file
unsafe, and raises EmptyPickleError on a compressed one; its ML allowlist is for torch and
transformers. picklescan 1.0.5 (MIT) is a denylist: on a joblib file it stops at the first raw
array bytes, so an ``os.system`` pickled after an array is not seen, and it reads nothing of a
compressed file. Neither knows joblib's array payloads, which the scan must skip exactly as
joblib reads them (mlayer/model/pickles.py), so the allowlist lives here.
"""

from __future__ import annotations

import importlib
import re
import sys
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

from mlayer.model import restore_audit
from mlayer.model.restore_audit import MODULE_ALIASES

CALL, REF, REFUSED = "call", "ref", "refused"

WRAPPER = "joblib.numpy_pickle.NumpyArrayWrapper"

# The pickle may call these while loading (REDUCE/NEWOBJ), name by name.
CONSTRUCTORS: dict[str, str] = {
    WRAPPER: "joblib's placeholder for an array whose bytes follow in the file",
    "numpy.core.multiarray._reconstruct": "numpy 1.x: rebuilds an ndarray (C checks the type)",
    "numpy._core.multiarray._reconstruct": "numpy 2: rebuilds an ndarray (C checks the type)",
    "numpy.core.multiarray.scalar": "numpy 1.x: rebuilds a numpy scalar",
    "numpy._core.multiarray.scalar": "numpy 2: rebuilds a numpy scalar",
    "numpy.core.numeric._frombuffer": "numpy 1.x: an ndarray from protocol-5 bytes",
    "numpy._core.numeric._frombuffer": "numpy 2: an ndarray from protocol-5 bytes",
    "numpy.ma.core._mareconstruct": "rebuilds a masked array",
    "numpy.random._pickle.__randomstate_ctor": "rebuilds a RandomState by generator name",
    "numpy.random._pickle.__generator_ctor": "rebuilds a Generator by generator name",
    "numpy.random._pickle.__bit_generator_ctor": "rebuilds a bit generator by name",
    "copyreg._reconstructor": "protocol 0/1: an object of an allowed class, without __init__",
    "_codecs.encode": "protocol 2: how bytes are pickled",
    "collections.OrderedDict": "a dict type",
    "collections.defaultdict": "a dict type (its factory must be allowed too)",
    "collections.Counter": "a dict type",
    "collections.deque": "a sequence type",
    "functools.partial": "wraps an allowed callable with data. A restore path that calls what "
    "its state holds would call it while loading (scipy.stats' frozen distributions did: they "
    "need --trust now, mlayer.model.restore_audit); it can only call an allowed callable, and the "
    "replay bounds what that allocates (mlayer.model.call_guard)",
    "builtins.set": "value type",
    "builtins.frozenset": "value type",
    "builtins.slice": "value type",
    "builtins.complex": "value type",
    "builtins.bytearray": "value type",
    "builtins.bytes": "value type",
    "builtins.range": "value type",
    "builtins.list": "value type",
    "builtins.dict": "value type",
    "builtins.tuple": "value type",
    "builtins.int": "value type",
    "builtins.float": "value type",
    "builtins.str": "value type",
    "builtins.bool": "value type",
    "builtins.object": "base of copyreg._reconstructor",
    "builtins.type": "type(None) for NoneType; called with one argument only",
}

# Reconstructors that call a callable they are given: the only callable each may be given.
CALLS_GIVEN: dict[str, str] = {
    "numpy.random._pickle.__randomstate_ctor": "numpy.random._pickle.__bit_generator_ctor",
    "numpy.random._pickle.__generator_ctor": "numpy.random._pickle.__bit_generator_ctor",
}

# Packages whose own classes may be called; each class must pass its package's rule.
CLASS_PACKAGES: dict[str, str] = {
    "sklearn": "any class scikit-learn defines (estimators, trees, losses, scorers, ...)",
    "numpy": "ndarray, dtype and scalar classes (and subclasses), numpy.random's generators",
    "scipy.sparse": "sparse matrices and arrays",
}  # scipy.stats is not here: its restore path execs pickled code (mlayer.model.restore_audit)
STATS_REFUSAL = "scipy.stats: a distribution's __setstate__ execs code saved in the pickle"

# Functions that may only be referenced: the model keeps them as values.
REFERENCE_RULES: dict[str, str] = {
    "sklearn.metrics": "scoring and distance functions (GridSearchCV's scorer_, kernels)",
    "ufunc": "numpy and scipy.special ufuncs (FunctionTransformer(func=np.log1p))",
}

# Inside the allowed packages, never (prefix match on the module, and on where a class lives).
DENIED_MODULES: dict[str, str] = {
    "numpy.testing": "runs code and subprocesses",
    "numpy.distutils": "builds and runs compilers",
    "numpy.f2py": "compiles and runs code",
    "numpy.ctypeslib": "loads shared libraries",
    "numpy._pytesttester": "runs pytest",
    "numpy.lib.npyio": "numpy.load reads (and unpickles) files",
    "numpy.lib._npyio_impl": "numpy.load reads (and unpickles) files",
    "numpy.lib.format": "reads and writes .npy files",
    "numpy.lib._format_impl": "reads and writes .npy files",
    "numpy.lib._datasource": "opens files and URLs",
    "numpy.lib.utils": "introspection helpers",
    "numpy.lib._utils_impl": "introspection helpers",
    "numpy.core._internal": "ctypes access to memory",
    "numpy._core._internal": "ctypes access to memory",
    "sklearn.datasets": "downloads and reads files",
    "sklearn.externals": "vendored code outside scikit-learn's review",
    "sklearn.experimental": "imports change scikit-learn itself",
    "sklearn.utils._testing": "runs code and subprocesses",
    "sklearn.utils.estimator_checks": "runs test code",
    "sklearn.utils._show_versions": "inspects the machine",
    "sklearn.utils._joblib": "re-exports joblib.load",
    "sklearn.utils.parallel": "runs tasks in worker processes",
    "scipy._lib": "scipy's internals (LowLevelCallable, worker pools, test runners)",
    "scipy.io": "reads and writes files",
    "scipy.datasets": "downloads files",
    "scipy.special._precompute": "scripts that compute and print when imported",
    "numpy._pyinstaller": "PyInstaller hooks and their tests",
    "numpy._core._rational_tests": "a test extension type",
    "numpy.core._rational_tests": "a test extension type",
}
DENIED_PARTS = frozenset(  # any module path with one of these parts
    {"tests", "testing", "_testing", "conftest", "distutils", "_build_utils", "__main__"}
)
DENIED_NAMES: dict[str, str] = {
    name: "reads, writes or runs something"
    for name in (
        "load loads save savez savez_compressed savetxt loadtxt genfromtxt fromfile tofile "
        "fromregex memmap open_memmap DataSource NpzFile LowLevelCallable FortranFile "
        "netcdf_file system popen Popen exec eval compile getattr setattr delattr __import__ "
        "import_module PytestTester MapWrapper Parallel Memory dump show_versions"
    ).split()
}

_CYTHON_CTOR = re.compile(r"__pyx_unpickle_\w+|newObj")


@dataclass(frozen=True)
class Verdict:
    """What the scan may do with one global: ``call`` it, keep it as a ``ref``, or refuse it."""

    qualname: str
    kind: str  # CALL | REF | REFUSED
    via: str  # allowlist | code | trust | "" when refused
    reason: str


def _package(module: str) -> str | None:
    module = MODULE_ALIASES.get(module, module)
    for pkg in sorted(CLASS_PACKAGES, key=len, reverse=True):
        if module == pkg or module.startswith(pkg + "."):
            return pkg
    return None


def _denied_module(module: str) -> str | None:
    module = MODULE_ALIASES.get(module, module)
    for prefix, why in DENIED_MODULES.items():
        if module == prefix or module.startswith(prefix + "."):
            return f"module {prefix} is denied ({why})"
    if DENIED_PARTS & set(module.split(".")):
        return "test and build modules are denied"
    return None


def _numpy_class(obj: type) -> bool:
    import numpy as np
    from numpy.random import BitGenerator, Generator, RandomState, SeedSequence

    return issubclass(obj, (np.ndarray, np.generic, np.dtype)) or issubclass(
        obj, (BitGenerator, Generator, RandomState, SeedSequence)
    )


def _sparse_class(obj: type) -> bool:
    from scipy.sparse import sparray, spmatrix

    return issubclass(obj, (sparray, spmatrix))


class Policy:
    """The allowlist plus the user's ``--trust`` globals and ``--code`` modules."""

    def __init__(self, trusted: Iterable[str] = (), code_modules: Iterable[str] = ()) -> None:
        self.trusted = frozenset(trusted)
        # a --code file named like a standard or allowed module would make its names ours
        shadowed = set(sys.stdlib_module_names) | {"sklearn", "numpy", "scipy", "joblib"}
        self.code_modules = frozenset(code_modules) - shadowed
        self._cache: dict[str, Verdict] = {}

    def judge(self, module: str, name: str) -> Verdict:
        qualname = f"{module}.{name}"
        if qualname not in self._cache:
            self._cache[qualname] = self._judge(module, name, qualname)
        return self._cache[qualname]

    def _judge(self, module: str, name: str, qualname: str) -> Verdict:
        if qualname in self.trusted:
            return Verdict(qualname, CALL, "trust", "accepted with --trust")
        if "." in name or not name or not module:
            return Verdict(qualname, REFUSED, "", "a dotted name reaches attributes of attributes")
        if module in self.code_modules:
            return Verdict(qualname, CALL, "code", f"defined in your --code module {module}")
        if qualname in CONSTRUCTORS:
            return Verdict(qualname, CALL, "allowlist", CONSTRUCTORS[qualname])
        if module == "__main__":
            return Verdict(qualname, REFUSED, "", "defined in a script or notebook (__main__)")
        pkg = _package(module)
        if module == "scipy.stats" or module.startswith("scipy.stats."):
            return Verdict(qualname, REFUSED, "", STATS_REFUSAL)
        if pkg is None and not module.startswith("scipy.special"):
            return Verdict(qualname, REFUSED, "", "not on mlayer's allowlist")
        denied = _denied_module(module) or _denied_module(qualname)  # lazy submodules too
        if denied is None and name in DENIED_NAMES:
            denied = f"{name} {DENIED_NAMES[name]}"
        if denied:
            return Verdict(qualname, REFUSED, "", denied)
        return self._resolve(module, name, qualname, pkg)

    def _resolve(self, module: str, name: str, qualname: str, pkg: str | None) -> Verdict:
        """Look the name up in the installed library: only its own classes (and refs) pass."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                home_module = importlib.import_module(MODULE_ALIASES.get(module, module))
                if module in MODULE_ALIASES and sys.modules.get(module) is not home_module:
                    raise ImportError(f"{module} is not {MODULE_ALIASES[module]} here")
                obj = getattr(home_module, name)
        except Exception as exc:  # a missing module or name: joblib.load would fail too
            return Verdict(qualname, REFUSED, "", f"not found here ({type(exc).__name__})")
        import numpy as np

        if isinstance(obj, np.ufunc):
            return Verdict(qualname, REF, "allowlist", REFERENCE_RULES["ufunc"])
        if pkg is None:
            return Verdict(qualname, REFUSED, "", "not on mlayer's allowlist")
        if isinstance(obj, type):
            home = getattr(obj, "__module__", "") or ""
            if _package(home) != pkg and not (pkg == "numpy" and home == "numpy"):
                return Verdict(qualname, REFUSED, "", f"a class of {home or '?'}, re-exported")
            if _denied_module(home):
                return Verdict(qualname, REFUSED, "", _denied_module(home) or "")
            if pkg == "numpy" and not _numpy_class(obj):
                return Verdict(qualname, REFUSED, "", "not an array, dtype, scalar or generator")
            if pkg == "scipy.sparse" and not _sparse_class(obj):
                return Verdict(qualname, REFUSED, "", "not a sparse matrix or array")
            problem = restore_audit.rebuild_problem(obj)  # what rebuilding it would run
            if problem:
                return Verdict(qualname, REFUSED, "", problem)
            return Verdict(qualname, CALL, "allowlist", CLASS_PACKAGES[pkg])
        if callable(obj) and _CYTHON_CTOR.fullmatch(name) and pkg in ("sklearn", "numpy"):
            problem = restore_audit.reconstructor_problem(home_module, name)
            if problem:
                return Verdict(qualname, REFUSED, "", problem)
            return Verdict(qualname, CALL, "allowlist", "Cython's own reconstructor")
        home = getattr(obj, "__module__", "") or ""
        if pkg == "sklearn" and callable(obj) and home.startswith("sklearn.metrics."):
            return Verdict(qualname, REF, "allowlist", REFERENCE_RULES["sklearn.metrics"])
        return Verdict(qualname, REFUSED, "", "not a class of the library")
