"""The inert objects a replayed pickle builds, and the plain values numpy may be given from them.

Every global a pickle names becomes a ``Stub`` class (judged by mlayer.model.trust); calling one
only records its arguments. replay.py drives them opcode by opcode; native_state/ reads what
they recorded. Only numpy's dtype is mirrored by a real object (a copy, never a shared one), so
that an array wrapper reads the item size joblib would. ``Refusal`` stops the scan at once.
"""

from __future__ import annotations

from typing import Any

from mlayer.model import trust
from mlayer.model.dtype_state import dtype_from_state

LITERALS = (str, bytes, bytearray, int, float, complex, bool, type(None))


class Refusal(Exception):
    """An opcode trick: the scan stops at once (the message says which)."""


class Stub:
    """Stands for any object a pickle builds: it records what it is given and runs nothing."""

    qualname = "?"
    verdict: trust.Verdict
    args: tuple[Any, ...]
    state: Any
    attrs: dict[str, Any]
    called: bool
    canonical: bool
    builds: int
    items: list[tuple[Any, Any]]
    real: Any  # numpy.dtype's mirror (set by dtype_made; absent on other stubs)
    layout: dict[str, Any]  # ArrayStub's: where joblib's array bytes are (replay.py)

    def __new__(cls, *args: Any, **kwargs: Any) -> Stub:
        obj = object.__new__(cls)
        obj.args, obj.state, obj.attrs = args, None, {}
        obj.called = obj.canonical = False
        obj.builds = 0  # BUILDs applied: mlayer.model.native_state refuses arrays rebuilt after use
        obj.items = []  # (key or None, value) given by SETITEM(S)/APPEND(S)/ADDITEMS
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.called = True

    def __setitem__(self, key: Any, value: Any) -> None:
        # SETITEM(S), APPEND(S), ADDITEMS on a built object (a dict or list subclass): kept,
        # as mlayer.model.native_state checks what such a container holds
        self.items.append((key, value))

    def append(self, value: Any) -> None:
        self.items.append((None, value))

    def extend(self, values: Any) -> None:
        self.items.extend((None, value) for value in values)

    def add(self, value: Any) -> None:
        self.items.append((None, value))


class ArrayStub(Stub):
    """The array joblib puts on the stack in place of a wrapper (not a global of the pickle)."""

    qualname = "numpy.ndarray"


def is_stub_class(obj: object) -> bool:
    return isinstance(obj, type) and issubclass(obj, Stub)


def tainted(root: object) -> bool:
    """Is joblib's array wrapper (class or instance) in ``root`` or its containers?

    No allowed call returns an element of an object it is given, only (at most) the object
    itself, so a wrapper can reach a call's result only when it is an argument: checking the
    arguments and the plain containers among them is enough."""
    seen: set[int] = set()
    todo: list[Any] = [root]
    while todo:
        obj = todo.pop()
        if id(obj) in seen or isinstance(obj, LITERALS):
            continue
        seen.add(id(obj))
        if is_stub_class(obj):
            if obj.qualname == trust.WRAPPER:
                return True
        elif isinstance(obj, Stub):
            if type(obj).qualname == trust.WRAPPER:
                return True
        elif isinstance(obj, dict):
            todo.extend(obj.keys())
            todo.extend(obj.values())
        elif isinstance(obj, (tuple, list, set, frozenset)):
            todo.extend(obj)
    return False


def plain_value(obj: object, depth: int = 0) -> Any:
    """A stub-free copy of ``obj`` for numpy: values, containers of them, and dtypes."""
    if depth > 20:
        raise ValueError("nested too deep")
    if isinstance(obj, LITERALS):
        return obj
    if isinstance(obj, (tuple, list)):
        return type(obj)(plain_value(x, depth + 1) for x in obj)
    if isinstance(obj, dict):
        return {plain_value(k, depth + 1): plain_value(v, depth + 1) for k, v in obj.items()}
    if isinstance(obj, Stub) and getattr(obj, "real", None) is not None:
        return obj.real  # the same dtype object, as numpy would share it
    raise ValueError("built from objects rather than values")


def dtype_made(stub: Stub) -> None:
    """numpy.dtype(*args) as the real unpickler makes it, when the pickle calls it: a real dtype
    object mirrors the stub, and each BUILD (__setstate__) is applied to it when it happens, so
    that a wrapper reads the item size numpy has at that moment. Only copies (copy=True, as
    numpy pickles them) are made: numpy's shared builtin dtypes are never touched."""
    import numpy as np

    stub.real = None
    if len(stub.args) == 3 and stub.args[2] is True:
        try:
            stub.real = np.dtype(*plain_value(stub.args))
        except Exception:
            pass  # unusable for an array wrapper; refused only if a wrapper uses it


def dtype_built(stub: Stub, state: Any) -> None:
    if getattr(stub, "real", None) is not None:
        try:
            stub.real = dtype_from_state(stub.real, plain_value(state))  # mlayer.model.dtype_state
        except Exception:
            stub.real = None


def real_dtype(stub: object) -> Any:
    """The numpy dtype joblib would read an array with, or Refusal."""
    if not (isinstance(stub, Stub) and type(stub).qualname == "numpy.dtype" and stub.called):
        raise Refusal("an array dtype that is not a plain numpy.dtype")
    if getattr(stub, "real", None) is None:
        raise Refusal("an array dtype that numpy.dtype(descr, align, copy=True) does not build")
    return stub.real
