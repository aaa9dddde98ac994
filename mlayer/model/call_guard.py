"""What one allowed call may do while a pickle is judged: run only audited code, allocate little.

The replay (mlayer.model.replay) lets a pickle call allowlisted globals, so two questions remain for
each call, answered here from the call's arguments before anything is loaded:

- Does calling it run code mlayer has not cleared? Calling a class runs its ``__init__`` (and
  ``copyreg._reconstructor(cls, base, state)`` runs ``base.__init__``): the class must be
  callable by mlayer.model.restore_audit, else the pickle is refused (scikit-learn writes its
  estimators with ``__new__`` and BUILD, never a call).
- How much would it allocate? A 50-byte pickle can ask for ``list(range(10**12))``. Every
  call that sizes memory from an integer is bounded: a ``range`` (8 bytes an item once listed),
  ``bytes``/``bytearray`` of a count, numpy arrays by shape times item size, numpy scalars and
  dtypes by item size, and the same calls wrapped in a ``functools.partial`` (the allowlist
  holds no repeat: no ``operator.mul``, nothing that multiplies a sequence). The limit is
  ``max(64 MiB, 64 x the decompressed pickle)``: a genuine model's arrays are in the file, so
  they are far below it.
"""

from __future__ import annotations

import math
from typing import Any

FLOOR = 64 * 1024 * 1024
FACTOR = 64
_ITEM = 8  # bytes an element of a listed range, or an unknown dtype, is counted as
_SHAPED = {
    "numpy.ndarray": 0,  # (shape, dtype) -> index of the shape argument
    "numpy.core.multiarray._reconstruct": 1,
    "numpy._core.multiarray._reconstruct": 1,
    "numpy.ma.core._mareconstruct": 2,
    "numpy.matrix": 0,
    "numpy.rec.recarray": 0,
    "numpy.char.chararray": 0,
}
_COUNTED = {"builtins.bytes", "builtins.bytearray"}


def limit_for(size: int) -> int:
    """The most one call may allocate when judging a pickle of ``size`` bytes (decompressed)."""
    return max(FLOOR, FACTOR * size)


def _stated(limit: int) -> str:
    return f"{limit:,} bytes: max(64 MiB, 64 x the pickle's size)"


def _itemsize(dtype: Any) -> int:
    real = getattr(dtype, "real", None)  # the replay's numpy.dtype stub carries the real one
    if real is not None and hasattr(real, "itemsize"):
        return max(int(real.itemsize), 1)
    if isinstance(dtype, (str, bytes)):
        import numpy as np

        try:
            return max(np.dtype(dtype if isinstance(dtype, str) else dtype.decode()).itemsize, 1)
        except Exception:
            return _ITEM
    return _ITEM


def _shape_size(shape: Any) -> int | None:
    if type(shape) is int:
        return shape
    if isinstance(shape, (tuple, list)) and all(type(d) is int for d in shape):
        return math.prod(shape) if all(d >= 0 for d in shape) else 0
    return None


def _range_len(args: tuple[Any, ...]) -> int:
    if not args or not all(type(a) is int for a in args) or len(args) > 3:
        return 0
    try:
        return len(range(*args))
    except (ValueError, OverflowError):
        return 2**63  # len() itself overflows: far past any limit


def allocation(qualname: str, args: tuple[Any, ...], kwargs: dict[str, Any] | None = None) -> int:
    """Bytes this call would allocate at most, as far as its arguments say (0: nothing sized)."""
    kwargs = kwargs or {}
    if qualname == "builtins.range":
        return _range_len(tuple(args)) * _ITEM
    if qualname in _COUNTED and args and type(args[0]) is int:
        return max(args[0], 0)
    if qualname in _SHAPED:
        at = _SHAPED[qualname]
        shape = args[at] if len(args) > at else kwargs.get("shape")
        count = _shape_size(shape)
        dtype = args[at + 1] if len(args) > at + 1 else kwargs.get("dtype")
        return (count or 0) * _itemsize(dtype)
    if qualname in ("numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar") and args:
        return _itemsize(args[0])
    return 0


def too_big(
    qualname: str, args: tuple[Any, ...], kwargs: dict[str, Any] | None, limit: int
) -> str | None:
    """Why this call is refused for what it would allocate, or None."""
    size = allocation(qualname, args, kwargs)
    if size > limit:
        return f"{qualname} sized to allocate {size:,} bytes, beyond the limit of {_stated(limit)}"
    return None


def dtype_too_big(itemsize: int, limit: int) -> str | None:
    if itemsize > limit:
        return f"a numpy.dtype of {itemsize:,} bytes an item, beyond the limit of {_stated(limit)}"
    return None


def call_problem(qualname: str) -> str | None:
    """Why the pickle may not call this allowlisted class (its __init__ would run), or None."""
    from mlayer.model import restore_audit

    obj = restore_audit.resolve(qualname)
    if not isinstance(obj, type):
        return None
    problem = restore_audit.call_problem(obj)
    return f"a call of {qualname}: {problem}" if problem else None
