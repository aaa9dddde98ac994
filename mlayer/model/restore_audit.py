"""What runs when an allowlisted class is rebuilt from a pickle, and whether mlayer accepts it.

The allowlist (mlayer.model.trust) judges names; this judges what those names *do* while loading.
An instance is rebuilt by the unpickler through its class's ``__new__`` (NEWOBJ, copyreg),
``__init__`` (only when the pickle calls the class: REDUCE, or copyreg._reconstructor with that
base), ``__setstate__`` (BUILD), ``__setattr__`` (BUILD's slot state), ``__setitem__``,
``append``/``extend``/``add`` (SETITEMS, APPENDS, ADDITEMS), and the metaclass's ``__call__``.
Each of these, wherever the class's MRO defines it (a *definer*, ``module.Class.method``), has a
verdict here, as data:

- ``inert``: stores what it is given, reads no name from its state, runs nothing it is handed;
- ``computes``: runs the library's own arithmetic on its arguments (bounded by the replay);
- ``checked``: native state that mlayer validates from the opcodes before loading (trees,
  neighbours' trees, scipy.sparse: mlayer.model.replay hands each BUILD state to that check);
- ``no-call``: an ``__init__`` that does more than store; it never runs because the replay
  refuses a pickle that calls the class (the pickle rebuilds it with ``__new__`` and BUILD);
- ``refused``: native state nothing checks (fit-time Cython objects no fitted model keeps),
  or code run from the state (scipy.stats: ``rv_generic.__setstate__`` execs the pickled
  ``_parse_arg_template``; ``rv_frozen.__init__`` calls what the state holds). Such classes
  are accepted only with ``--trust``.

scipy.stats is therefore off the default allowlist (mlayer.model.trust): its state is not validated,
because a strict check (the template equal to the class's pristine one, every ``_ctor_param``
a number, no callable) would still leave ``rv_frozen``'s arbitrary ``dist`` object to audit.

Verdicts come from three sources, in this order: the hand audit (``HAND``, written against
``AUDITED_VERSIONS`` and valid only when that library's installed version is the audited one:
fail closed), CPython's own definers (``PYTHON_MODULES``), and rules read from the installed
source (an ``__init__``/``add`` whose body only assigns its arguments to ``self`` and calls
``super().__init__`` with names, checked on the AST, holds under any version; namedtuples'
generated ``__new__``). Under another scikit-learn, numpy or scipy, a class is accepted only
if the audit walked that class (``restore_audit_classes.txt``, data written
from the walk, kept equal to it by the test) and every definer it reaches has a verdict; any
other class is refused, the message naming it, the definer and the audited versions.
tests/unit/test_restore_audit.py walks every class the allowlist accepts and fails on any
unaudited definer.
"""

from __future__ import annotations

import ast
import enum
import functools
import importlib
import importlib.metadata
import importlib.resources
import inspect
import textwrap

from mlayer.model.restore_verdicts import (
    AUDITED_CLASSES_FILE,
    AUDITED_VERSIONS,
    CALL_OK,
    CALLED_CYTHON,
    COMPUTES,
    CY_AUTO,
    HAND,
    INERT,
    KEPT_CYTHON,
    NO_CALL,
    NOT_KEPT,
    NUMPY_C,
    PYTHON_MODULES,
    REBUILD,
    REBUILD_OK,
    REFUSED,
)

# Cython modules that register themselves under a bare name too (pickles use that name).
MODULE_ALIASES: dict[str, str] = {
    "_loss": "sklearn._loss._loss",
    "_csparsetools": "scipy.sparse._csparsetools",
}
_DIST = {"sklearn": "scikit-learn", "numpy": "numpy", "scipy": "scipy"}


def _version(top: str) -> str | None:
    dist = _DIST.get(top)
    if dist is None:
        return None
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def covered(definer: str) -> bool:
    """Does the hand audit hold for this definer's library as installed here?"""
    top = definer.split(".", 1)[0]
    return top not in _DIST or _version(top) == AUDITED_VERSIONS[_DIST[top]]


def _plain(node: ast.AST) -> bool:
    return isinstance(node, (ast.Name, ast.Constant))


def _super_init(node: ast.AST) -> bool:
    if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)):
        return False
    call, func = node.value, node.value.func
    return (
        isinstance(func, ast.Attribute)
        and func.attr == "__init__"
        and isinstance(func.value, ast.Call)
        and isinstance(func.value.func, ast.Name)
        and func.value.func.id == "super"
        and not func.value.args
        and all(_plain(a) for a in call.args)
        and all(_plain(k.value) for k in call.keywords)
    )


def _self_store(node: ast.AST) -> bool:
    if isinstance(node, ast.AnnAssign):
        targets, value = [node.target], node.value
    elif isinstance(node, ast.Assign):
        targets, value = node.targets, node.value
    else:
        return False
    return (
        value is not None
        and _plain(value)
        and all(
            isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self"
            for t in targets
        )
    )


@functools.cache
def stores_only(func: object) -> bool:
    """Does this Python function only assign its arguments to ``self`` (read from its AST)?"""
    if getattr(func, "__code__", None) is None:
        return False
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(func))).body[0]  # type: ignore[arg-type]
    except (OSError, TypeError, SyntaxError, IndexError):
        return False
    if not isinstance(tree, ast.FunctionDef) or tree.decorator_list:
        return False
    for node in tree.body:
        docstring = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        if not (docstring or isinstance(node, ast.Pass) or _self_store(node) or _super_init(node)):
            return False
    return True


def _namedtuple_new(owner: type, name: str, func: object) -> bool:
    code = getattr(getattr(func, "__func__", func), "__code__", None)
    return (
        name == "__new__"
        and issubclass(owner, tuple)
        and hasattr(owner, "_fields")
        and code is not None
        and code.co_filename == "<string>"
    )


def definer_name(owner: type, name: str) -> str:
    module = owner.__module__
    return f"{MODULE_ALIASES.get(module, module)}.{owner.__qualname__}.{name}"


def judge_definer(owner: type, name: str, known: bool = False) -> tuple[str, str] | None:
    """(verdict, why) for ``owner.name`` as defined in ``owner``, or None when unaudited.
    ``known``: the class being judged is one the audit walked (AUDITED_CLASSES_FILE)."""
    definer = definer_name(owner, name)
    func = vars(owner)[name]
    if definer in HAND and (known or covered(definer)):
        return HAND[definer]
    module = definer.rsplit(".", 2)[0]
    if owner.__module__ in PYTHON_MODULES or module in PYTHON_MODULES:
        return INERT, "CPython's own container, exception or enum type"
    if name == "__new__" and issubclass(owner, enum.Enum):
        return INERT, "an enum's __new__: looks a member up by its value"
    if _namedtuple_new(owner, name, func):
        return INERT, "a namedtuple's generated __new__ (tuple.__new__)"
    if name in ("__init__", "add") and stores_only(func):
        return INERT, "assigns its arguments to self (read from the installed source)"
    if not (known or covered(definer)):
        return None
    python = _python(func)
    if name == "__init__" and not python and definer.startswith(CALLED_CYTHON):
        return COMPUTES, "a Cython __init__: typed arguments into typed fields"
    if name == "__init__":
        return NO_CALL, "does more than store; the replay refuses a pickle that calls the class"
    if definer.startswith("numpy.") and not python:
        return COMPUTES, NUMPY_C
    if definer.startswith("sklearn.") and not python and name == "__new__":
        return INERT, "Cython's tp_new: allocates the object, typed __cinit__ arguments"
    if definer.startswith("sklearn.") and not python and name == "__setstate__":
        kept = definer.rsplit(".", 1)[0] in KEPT_CYTHON
        return (INERT, CY_AUTO) if kept else (REFUSED, f"{NOT_KEPT} ({CY_AUTO})")
    if definer.startswith("sklearn.") and not python and name in ("__setitem__", "append"):
        return INERT, "Cython's typed item assignment"
    return None


def _python(func: object) -> bool:
    return inspect.isfunction(func) or isinstance(func, (staticmethod, classmethod))


def _definers(cls: type, names: tuple[str, ...]) -> list[tuple[type, str]]:
    """Each method's definers along the MRO, down to the first native one: Python code may
    reach the next through super(); native code (C, Cython) does not."""
    out = []
    for name in names:
        for owner in cls.__mro__:
            if name in vars(owner):
                out.append((owner, name))
                if not _python(vars(owner)[name]):
                    break
    meta = type(cls)
    if "__init__" in names:
        out += [(owner, "__call__") for owner in meta.__mro__ if "__call__" in vars(owner)]
    return out


def class_name(cls: type) -> str:
    return f"{MODULE_ALIASES.get(cls.__module__, cls.__module__)}.{cls.__qualname__}"


@functools.cache
def audited_classes() -> frozenset[str]:
    """The classes the audit walked under AUDITED_VERSIONS (a data file beside this module)."""
    text = importlib.resources.files("mlayer.model").joinpath(AUDITED_CLASSES_FILE).read_text()
    return frozenset(line for line in text.splitlines() if line and not line.startswith("#"))


def _problem(cls: type, names: tuple[str, ...], ok: frozenset[str], what: str) -> str | None:
    known = class_name(cls) in audited_classes()
    for owner, name in _definers(cls, names):
        if owner is type and name == "__call__":
            continue  # type.__call__: __new__ then __init__, judged themselves
        found = judge_definer(owner, name, known)
        definer = definer_name(owner, name)
        if found is None:
            return _unaudited(definer, class_name(cls))
        verdict, why = found
        if verdict not in ok:
            return f"{what} {definer}, which {why} (accepted only with --trust)"
    return None


def _unaudited(definer: str, cls: str) -> str:
    top = definer.split(".", 1)[0]
    audited = ", ".join(f"{d} {v}" for d, v in AUDITED_VERSIONS.items())
    here = (
        f"; this is {_DIST[top]} {_version(top)}" if top in _DIST and not covered(definer) else ""
    )
    if here:  # another version: only the classes the audit walked are known
        return (
            f"{cls} is not a class mlayer's restore audit knows, or its restore path reaches "
            f"{definer}, which the audit does not cover ({audited}{here})"
        )
    return f"its restore path reaches {definer}, which mlayer has not audited ({audited})"


@functools.lru_cache(maxsize=4096)
def rebuild_problem(cls: type) -> str | None:
    """Why an instance of ``cls`` may not be rebuilt (NEWOBJ, BUILD, SETITEMS...), or None."""
    return _problem(cls, REBUILD, REBUILD_OK, "rebuilding it runs")


@functools.lru_cache(maxsize=4096)
def call_problem(cls: type) -> str | None:
    """Why the pickle may not call ``cls`` itself (its ``__init__`` runs), or None."""
    return _problem(cls, ("__new__", "__init__"), CALL_OK, "calling it runs")


def reconstructor_problem(module: object, name: str) -> str | None:
    """Why a pickle may not call Cython's ``__pyx_unpickle_X`` (or ``newObj``), or None.

    ``__pyx_unpickle_X(type, checksum, state)`` makes ``type.__new__(type)`` and sets X's fields
    with Cython's generated setter, bypassing ``__setstate__``: it is judged as X's rebuild.
    ``newObj(type)`` only calls ``type.__new__``; the type is a global judged on its own."""
    if name == "newObj":
        return None
    target = name.removeprefix("__pyx_unpickle_")
    if target == "Enum":
        return None  # Cython's own enum members, rebuilt by value
    cls = getattr(module, target, None)
    if not isinstance(cls, type):
        return f"a Cython reconstructor of {target}, which is not a class of its module"
    problem = rebuild_problem(cls)
    return f"it rebuilds {class_name(cls)}: {problem}" if problem else None


def resolve(qualname: str) -> object | None:
    """The installed object a global names (as mlayer.model.trust resolved it), or None."""
    module, _, name = qualname.rpartition(".")
    try:
        return getattr(importlib.import_module(MODULE_ALIASES.get(module, module)), name)
    except Exception:
        return None
