"""scipy.sparse matrices and arrays: the index arrays sparsetools' C++ loops trust.

Unpickling a sparse matrix only updates its ``__dict__`` (``coo`` renames ``row``/``col`` to
``coords``): none of scipy's format checks run, and sparsetools (``csr_matvec``,
``csr_tocsc``, ``coo_tocsr``, ...) index with ``indptr``/``indices``/``coords`` unchecked
(scipy 1.15). So, for every sparse object of the pickle wherever it is:

- ``_shape``: a tuple of ints >= 0 (2-D; 1-D only for csr and coo arrays, as scipy allows);
- csr/csc: integer ``indptr`` of ``major + 1`` entries, starting at 0, non-decreasing, ending at
  ``nnz == len(indices) == len(data)``; integer ``indices`` in ``[0, minor)``; ``data`` 1-D
  numbers;
- bsr: the same over block rows, ``data`` of shape ``(nnz, R, C)`` with ``R``/``C`` dividing
  the shape;
- coo: one integer ``coords`` array per dimension, each of ``len(data)`` entries within it;
- dia: ``data`` of shape ``(len(offsets), L)``, integer ``offsets``;
- lil and dok (rows of Python lists, a dict) are refused: mlayer does not check them.
"""

from __future__ import annotations

import importlib
from functools import lru_cache
from typing import Any

import numpy as np

from mlayer.model.native_state.arrays import Arrays, Bad, ints

_NUMBERS = "biufc"


@lru_cache(maxsize=256)
def sparse_format(name: str) -> str | None:
    """The scipy.sparse format of a class of the pickle (``csr``, ...), or None."""
    module, _, attr = name.rpartition(".")
    if not module.startswith("scipy.sparse"):
        return None
    try:
        import scipy.sparse

        cls = getattr(importlib.import_module(module), attr)
    except Exception:
        return None
    if isinstance(cls, type) and issubclass(cls, (scipy.sparse.spmatrix, scipy.sparse.sparray)):
        return getattr(cls, "_format", None) or "?"
    return None


def _shape(merged: dict, fmt: str) -> tuple[int, ...]:
    shape = merged.get("_shape")
    if not isinstance(shape, tuple) or not all(type(d) is int and d >= 0 for d in shape):
        raise Bad("_shape", f"{shape!r} is not a tuple of sizes")
    if len(shape) != 2 and not (len(shape) == 1 and fmt in ("csr", "coo")):
        raise Bad("_shape", f"{len(shape)} dimensions for a {fmt} matrix")
    return shape


def _data(merged: dict, arrays: Arrays, ndim: int) -> np.ndarray:
    data = arrays.get(merged.get("data"), "data")
    if data.dtype.kind not in _NUMBERS or data.dtype.fields is not None or data.ndim != ndim:
        raise Bad("data", f"{data.dtype} {data.shape}")
    return data


def _compressed(merged: dict, arrays: Arrays, major: int, minor: int, ndim: int = 1) -> None:
    indptr = ints(arrays.get(merged.get("indptr"), "indptr"), "indptr")
    indices = ints(arrays.get(merged.get("indices"), "indices"), "indices")
    data = _data(merged, arrays, ndim)
    if len(indptr) != major + 1:
        raise Bad("indptr", f"{len(indptr)} entries, expected {major + 1}")
    if indptr[0] != 0 or (np.diff(indptr) < 0).any():
        raise Bad("indptr", "does not start at 0 and never decrease")
    if not int(indptr[-1]) == len(indices) == len(data):
        raise Bad(
            "indptr", f"ends at {int(indptr[-1])}, with {len(indices)} indices, {len(data)} values"
        )
    if len(indices) and (indices.min() < 0 or indices.max() >= minor):
        raise Bad("indices", f"an index outside [0, {minor})")


def check_sparse(fmt: str, merged: dict, arrays: Arrays) -> None:
    if fmt in ("lil", "dok") or fmt not in ("csr", "csc", "bsr", "coo", "dia"):
        raise Bad("format", f"{fmt}: mlayer does not check it (convert it to CSR before saving)")
    shape = _shape(merged, fmt)
    if fmt in ("csr", "csc"):
        rows, columns = shape if len(shape) == 2 else (1, shape[0])
        _compressed(merged, arrays, *((rows, columns) if fmt == "csr" else (columns, rows)))
    elif fmt == "bsr":
        data = _data(merged, arrays, 3)
        r, c = data.shape[1:]
        if not r or not c or shape[0] % r or shape[1] % c:
            raise Bad("data", f"blocks of {(r, c)} do not tile the shape {shape}")
        _compressed(merged, arrays, shape[0] // r, shape[1] // c, 3)
    elif fmt == "coo":
        _coo(merged, arrays, shape)
    else:
        data = _data(merged, arrays, 2)
        offsets = ints(arrays.get(merged.get("offsets"), "offsets"), "offsets")
        if data.shape[0] != len(offsets):
            raise Bad("data", f"{data.shape[0]} diagonals for {len(offsets)} offsets")


def _coo(merged: dict, arrays: Arrays, shape: tuple[int, ...]) -> None:
    coords: Any = merged.get("coords")
    if coords is None and "row" in merged and "col" in merged:
        coords = (merged["row"], merged["col"])  # what coo's __setstate__ renames
    if not isinstance(coords, tuple) or len(coords) != len(shape):
        raise Bad("coords", f"not one index array per dimension of {shape}")
    data = _data(merged, arrays, 1)
    for axis, (coord, size) in enumerate(zip(coords, shape, strict=True)):
        index = ints(arrays.get(coord, f"coords[{axis}]"), f"coords[{axis}]")
        if len(index) != len(data):
            raise Bad(f"coords[{axis}]", f"{len(index)} indices for {len(data)} values")
        if len(index) and (index.min() < 0 or index.max() >= size):
            raise Bad(f"coords[{axis}]", f"an index outside [0, {size})")
