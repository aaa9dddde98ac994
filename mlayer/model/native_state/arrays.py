"""The arrays a pickled state refers to, rebuilt from the replay's stubs without loading.

An array reaches a state in one of three forms: a joblib ``NumpyArrayWrapper`` whose raw bytes
follow in the file (the replay records where: ``ArrayStub.layout``), numpy's own
``_reconstruct`` + BUILD (inside an object array's nested pickle, or a plain pickle), or
``_frombuffer`` (protocol 5). Each is rebuilt with ``numpy.frombuffer`` on the captured bytes
and the dtype the replay mirrored from the pickle's own descr (mlayer.model.stubs.dtype_made), and
only when a checked state refers to it. An array BUILT again after a state used it (ndarray's
``__setstate__`` replaces its contents) is refused at the end of the scan, so what was checked
is what is loaded.
"""

from __future__ import annotations

import functools
import io
import math
import os
from typing import Any

import numpy as np

from mlayer.model.stubs import ArrayStub, Refusal, Stub, is_stub_class, real_dtype

RECONSTRUCT = frozenset(
    {"numpy._core.multiarray._reconstruct", "numpy.core.multiarray._reconstruct"}
)
FROMBUFFER = frozenset({"numpy._core.numeric._frombuffer", "numpy.core.numeric._frombuffer"})


class Bad(Exception):
    """A state fails a check: ``field`` (e.g. ``nodes['left_child'][3]``) and why."""

    def __init__(self, field: str, why: str) -> None:
        super().__init__(f"{field}: {why}")
        self.field, self.why = field, why


def class_of(obj: Any) -> str:
    """The class an object of the pickle is an instance of (``newObj(cls)`` counts as cls)."""
    if not isinstance(obj, Stub):
        return type(obj).__name__
    name = type(obj).qualname
    if name.endswith(".newObj") and obj.args and is_stub_class(obj.args[0]):
        return obj.args[0].qualname
    return name


def is_array(obj: Any) -> bool:
    return isinstance(obj, ArrayStub) or (
        isinstance(obj, Stub) and type(obj).qualname in RECONSTRUCT | FROMBUFFER
    )


def _raw_bytes(data: Any, field: str) -> bytes | bytearray:
    if isinstance(data, (bytes, bytearray)):
        return data
    if isinstance(data, Stub) and type(data).qualname == "_codecs.encode":  # protocol 2 bytes
        args = data.args
        if len(args) == 2 and type(args[0]) is str and args[1] == "latin1":
            return args[0].encode("latin1")
    if isinstance(data, Stub) and type(data).qualname == "builtins.bytes" and not data.args:
        return b""
    raise Bad(field, "an array whose bytes are not plain bytes")


def _dtype(stub: Any, field: str) -> np.dtype:
    try:
        return real_dtype(stub)
    except Refusal as exc:
        raise Bad(field, str(exc)) from None


class Arrays:
    """Rebuilds arrays on demand from the stream the replay reads (a file or a BytesIO)."""

    def __init__(self, fh, buffer: bytes | None = None) -> None:
        self._fh = fh
        self._buffer = buffer  # the decompressed stream ``fh`` reads, when it is in memory
        try:
            self._fd: int | None = fh.fileno()
        except (AttributeError, OSError, io.UnsupportedOperation):
            self._fd = None
        self.used: list[tuple[Stub, int, str]] = []  # (array, its BUILDs when used, field)
        self.memo: dict[int, tuple[Any, Any]] = {}  # id -> (object, what was read from it)

    def get(self, obj: Any, field: str) -> np.ndarray:
        """The numeric array ``obj`` stands for, read-only; Bad if it is not one plain array."""
        if not is_array(obj):
            raise Bad(field, f"expected an array, found {class_of(obj)}")
        self.used.append((obj, obj.builds, field))
        if isinstance(obj, ArrayStub):
            if obj.builds:
                raise Bad(field, "an array given a new state after it was read")
            return self._from_file(obj.layout, field)
        if type(obj).qualname in FROMBUFFER:
            if obj.builds or len(obj.args) != 4:
                raise Bad(field, "an array made otherwise than numpy pickles it")
            buf, dtype, shape, order = obj.args
            return _shaped(_raw_bytes(buf, field), _dtype(dtype, field), shape, order, field)
        version, shape, dtype, fortran, data = _reconstruct_state(obj, field)
        if isinstance(data, list):
            raise Bad(field, "an object array where numbers are expected")
        order = "F" if fortran else "C"
        return _shaped(_raw_bytes(data, field), _dtype(dtype, field), shape, order, field)

    def meta(self, obj: Any, field: str) -> tuple[np.dtype, tuple[int, ...]]:
        """The dtype and shape ``get`` would give, with the same checks, without reading the
        bytes of an array that follows in a joblib file (the replay proved they are there)."""
        if not isinstance(obj, ArrayStub) or "content" in obj.layout or obj.builds:
            array = self.get(obj, field)
            return array.dtype, array.shape
        self.used.append((obj, obj.builds, field))
        layout = obj.layout
        dtype, shape = layout["dtype"], layout["shape"]
        _count(shape, field)
        if dtype.hasobject or dtype.itemsize == 0 or (layout.get("order") or "C") not in ("C", "F"):
            raise Bad(field, f"an array of dtype {dtype} where numbers are expected")
        return dtype, tuple(shape)

    def objects(self, obj: Any, field: str) -> tuple[tuple[int, ...], list]:
        """An object array's shape and elements (in C order); Bad if it is not one."""
        if isinstance(obj, ArrayStub) and "content" in obj.layout and not obj.builds:
            self.used.append((obj, obj.builds, field))
            return self.objects(obj.layout["content"], field)
        if not (isinstance(obj, Stub) and type(obj).qualname in RECONSTRUCT):
            raise Bad(field, f"expected an object array, found {class_of(obj)}")
        self.used.append((obj, obj.builds, field))
        _, shape, dtype, fortran, data = _reconstruct_state(obj, field)
        if not (isinstance(data, list) and _dtype(dtype, field).hasobject and not fortran):
            raise Bad(field, "expected a C-ordered object array")
        if _count(shape, field) != len(data):
            raise Bad(field, f"an object array of shape {shape} holding {len(data)} objects")
        return tuple(shape), data

    def _from_file(self, layout: dict, field: str) -> np.ndarray:
        if "content" in layout:
            raise Bad(field, "an object array where numbers are expected")
        dtype, shape = layout["dtype"], layout["shape"]
        size = _count(shape, field) * dtype.itemsize
        if self._buffer is not None:  # in memory: a view of its bytes, no copy
            raw = memoryview(self._buffer)[layout["offset"] : layout["offset"] + size]
        elif self._fd is not None:  # a file read as it streams: pread leaves its buffer alone
            raw = os.pread(self._fd, size, layout["offset"])
        else:  # in memory: come back where the scan is
            here = self._fh.tell()
            self._fh.seek(layout["offset"])
            raw = self._fh.read(size)  # only the arrays a checked state uses, one at a time
            self._fh.seek(here)
        return _shaped(raw, dtype, shape, layout.get("order") or "C", field)


def object_elements(obj: Any) -> tuple[tuple[int, ...], list] | None:
    """An object array's shape and elements, for walking the object graph (None otherwise)."""
    if isinstance(obj, ArrayStub) and "content" in getattr(obj, "layout", {}):
        return object_elements(obj.layout["content"])
    if isinstance(obj, Stub) and type(obj).qualname in RECONSTRUCT:
        state = obj.state
        if isinstance(state, tuple) and len(state) in (4, 5) and isinstance(state[-1], list):
            shape = state[-4]
            if isinstance(shape, tuple) and all(type(d) is int and d >= 0 for d in shape):
                return shape, state[-1]
    return None


def _reconstruct_state(obj: Stub, field: str) -> tuple:
    """ndarray.__setstate__'s tuple: (version, shape, dtype, is_fortran, data)."""
    base = obj.args[0] if obj.args else None
    if not (is_stub_class(base) and base.qualname == "numpy.ndarray") or obj.builds != 1:
        raise Bad(field, "an array made otherwise than numpy pickles it")
    state = obj.state
    if isinstance(state, tuple) and len(state) == 4:
        state = (1, *state)
    if not (isinstance(state, tuple) and len(state) == 5 and isinstance(state[1], tuple)):
        raise Bad(field, "an array with an unusual state")
    return state


def _count(shape: Any, field: str) -> int:
    if not isinstance(shape, tuple) or not all(type(d) is int and d >= 0 for d in shape):
        raise Bad(field, "an array with an unusual shape")
    return math.prod(shape)


def _shaped(raw, dtype: np.dtype, shape, order, field: str) -> np.ndarray:
    if dtype.hasobject or dtype.itemsize == 0:
        raise Bad(field, f"an array of dtype {dtype} where numbers are expected")
    count = _count(tuple(shape) if isinstance(shape, list) else shape, field)
    if len(raw) != count * dtype.itemsize or order not in ("C", "F"):
        raise Bad(field, f"{len(raw)} bytes do not make an array of {count} {dtype}")
    flat = np.frombuffer(raw, dtype=dtype, count=count)
    return flat.reshape(shape, order=order)


def ints(array: np.ndarray, field: str, ndim: int = 1) -> np.ndarray:
    """An integer array as int64 (numpy checks the cast), or Bad."""
    if array.dtype.fields is not None or array.dtype.kind not in "iu" or array.ndim != ndim:
        raise Bad(field, f"expected a {ndim}-D integer array, found {array.dtype} {array.shape}")
    wide = array.dtype.kind == "u" and array.dtype.itemsize == 8 and array.size
    if wide and int(array.max()) > np.iinfo(np.int64).max:
        raise Bad(field, "an index beyond int64")
    return array.astype(np.int64, copy=False)


def floats(array: np.ndarray, field: str, ndim: int | None = None) -> np.ndarray:
    if array.dtype.kind != "f" or array.dtype.itemsize not in (4, 8):
        raise Bad(field, f"expected a float array, found {array.dtype}")
    if ndim is not None and array.ndim != ndim:
        raise Bad(field, f"expected {ndim} dimensions, found shape {array.shape}")
    return array


def records(array: np.ndarray, field: str, expected: dict[str, str]) -> np.ndarray:
    """A structured array in the expected layout (aligned, native order): numpy's ``kind`` and
    item size of each field must match up to byte order and 4/8-byte integers, as sklearn
    accepts; the array is converted only when its layout differs."""
    if array.ndim != 1:
        raise Bad(field, f"unexpected record layout {array.dtype}")
    try:
        flaw, convert = _layout_verdict(array.dtype, tuple(expected.items()))
    except TypeError:  # a dtype numpy cannot hash: judged uncached
        flaw, convert = _layout_verdict.__wrapped__(array.dtype, tuple(expected.items()))
    if flaw is not None:
        raise Bad(field if flaw[0] is None else f"{field}['{flaw[0]}']", flaw[1])
    return array.astype(record_dtype(tuple(expected.items()))) if convert else array


@functools.lru_cache(maxsize=64)
def _layout_verdict(dtype: np.dtype, expected: tuple) -> tuple[tuple | None, bool]:
    """(flaw as (field or None, why) or None, whether to convert): judged once per layout
    (a forest's 300 trees share one)."""
    fields = dtype.fields
    if fields is None or list(dtype.names or ()) != [name for name, _ in expected]:
        return (None, f"unexpected record layout {dtype}"), False
    for name, want in expected:
        got = fields[name][0]
        want_dtype = np.dtype(want)
        same_kind = got.kind == want_dtype.kind and not got.fields and got.shape == ()
        wide = want_dtype.kind in "iu" and want_dtype.itemsize == 8
        if not same_kind or got.itemsize not in ((4, 8) if wide else (want_dtype.itemsize,)):
            return (name, f"unexpected type {got} (expected {want})"), False
    same = dtype in (record_dtype(expected), record_dtype(expected, False))
    return None, not same  # sklearn's own aligned or packed layout is read as it is


@functools.lru_cache(maxsize=8)
def record_dtype(fields: tuple[tuple[str, str], ...], align: bool = True) -> np.dtype:
    return np.dtype(list(fields), align=align)


def structured(array: np.ndarray, field: str, expected: dict[str, str]) -> dict[str, np.ndarray]:
    """A structured array's fields by name, in their expected types (see ``records``)."""
    converted = records(array, field, expected)
    return {name: converted[name] for name in expected}


SCALAR = frozenset({"numpy._core.multiarray.scalar", "numpy.core.multiarray.scalar"})


def _scalar_int(value: Any) -> Any:
    """numpy's integer scalar (``scalar(dtype, bytes)``) as an int; anything else unchanged."""
    if isinstance(value, Stub) and type(value).qualname in SCALAR and len(value.args) == 2:
        try:
            dtype = real_dtype(value.args[0])
            raw = _raw_bytes(value.args[1], "")
        except (Refusal, Bad):
            return value
        if dtype.kind in "iu" and len(raw) == dtype.itemsize:
            return int(np.frombuffer(raw, dtype=dtype)[0])
    return value


def integer(value: Any, field: str, low: int = 0, high: int | None = None) -> int:
    """An int (or numpy integer scalar) within [low, high], or Bad."""
    value = _scalar_int(value)
    if type(value) is not int:
        raise Bad(field, f"expected an int, found {class_of(value)}")
    if value < low or (high is not None and value > high):
        raise Bad(field, f"{value} is outside [{low}, {high if high is not None else '...'}]")
    return value
