"""Read what a pickle will import, without importing or running any of it.

joblib.load() runs whatever the pickle names, so before loading a user's file (and before
shipping it to Lambda) mlayer replays the pickle's opcodes with every global replaced by an
inert stub: the result is the list of ``module.name`` globals, the class of the top object and
the scikit-learn version each estimator recorded in its state (``_sklearn_version``).

joblib's format is a pickle stream, possibly compressed as a whole (zlib, gzip, bz2, xz, lzma),
where numpy arrays are written as a ``NumpyArrayWrapper`` followed by the raw array bytes (or by
a nested pickle for object arrays); the scan skips those bytes exactly as joblib reads them.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import pickle
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from mlayer.errors import ModelError

_WRAPPER = "joblib.numpy_pickle.NumpyArrayWrapper"
_DTYPE = "numpy.dtype"
_ITEMSIZE = re.compile(r"[A-Za-z?]+(\d+)")


@dataclass(frozen=True)
class PickleScan:
    """What a pickle references: its globals, its top object's class, the sklearn versions."""

    globals: tuple[str, ...]
    top_class: str | None
    sklearn_versions: dict[str, str] = field(default_factory=dict)  # class -> recorded version
    compression: str | None = None

    @property
    def top_sklearn_version(self) -> str | None:
        if self.top_class and self.top_class in self.sklearn_versions:
            return self.sklearn_versions[self.top_class]
        versions = sorted(set(self.sklearn_versions.values()))
        return versions[0] if len(versions) == 1 else (versions[-1] if versions else None)

    @property
    def modules(self) -> tuple[str, ...]:
        """Top-level packages the pickle needs importable (``sklearn``, ``numpy``, ...)."""
        return tuple(sorted({g.split(".", 1)[0] for g in self.globals}))


class _Stub:
    """Stands for any object a pickle builds: it accepts everything and runs nothing."""

    _global = "?"

    def __new__(cls, *args, **kwargs):
        obj = object.__new__(cls)
        obj.args = args
        obj.state = None
        obj.items = []
        return obj

    def __init__(self, *args, **kwargs) -> None:
        pass

    def __setstate__(self, state) -> None:
        self.state = state

    def __setitem__(self, key, value) -> None:
        self.items.append((key, value))

    def append(self, value) -> None:
        self.items.append(value)

    def extend(self, values) -> None:
        self.items.extend(values)


def _dtype_facts(dtype) -> tuple[int, bool]:
    """(itemsize, has objects) of a stubbed numpy.dtype, from its reduce args and state."""
    if not isinstance(dtype, _Stub) or dtype._global != _DTYPE:
        raise ModelError(
            "An array in the pickle has no readable dtype.", "Re-save the model with joblib.dump."
        )
    state = dtype.state if isinstance(dtype.state, tuple) else ()
    descr = str(dtype.args[0]) if dtype.args else ""
    flags = state[-1] if state and isinstance(state[-1], int) else 0
    has_object = bool(flags & 1) or descr.startswith("O")
    elsize = state[5] if len(state) > 5 and isinstance(state[5], int) else -1
    if elsize > 0:
        return elsize, has_object
    m = _ITEMSIZE.fullmatch(descr)
    if not m:
        raise ModelError(
            f"Unsupported array dtype {descr!r} in the pickle.",
            "Re-save the model with joblib.dump.",
        )
    return int(m.group(1)), has_object


class _Scanner(pickle._Unpickler):  # the pure-Python unpickler: its dispatch can be extended
    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, fh: io.BufferedIOBase, found: list[str], built: list[_Stub]) -> None:
        super().__init__(fh)
        self._fh = fh
        self.found = found
        self.built = built

    def find_class(self, module: str, name: str):
        qualname = f"{module}.{name}"
        if qualname not in self.found:
            self.found.append(qualname)
        return type(name, (_Stub,), {"_global": qualname})

    def persistent_load(self, pid):
        return _Stub()

    def load_build(self) -> None:
        state = self.stack.pop()
        inst = self.stack[-1]
        if isinstance(inst, _Stub):
            inst.state = state
            self.built.append(inst)
            if inst._global == _WRAPPER and isinstance(state, dict):
                self._skip_array(state)
        # BUILD on anything else (a dict, a list) cannot come from a real pickler: ignore it

    dispatch[pickle.BUILD[0]] = load_build

    def _skip_array(self, state: dict) -> None:
        """Consume the raw bytes joblib wrote after a NumpyArrayWrapper, as joblib reads them."""
        itemsize, has_object = _dtype_facts(state.get("dtype"))
        if has_object:  # object arrays are a nested pickle right here in the stream
            _Scanner(self._fh, self.found, self.built).load()
            return
        count = 1
        for dim in state.get("shape") or ():
            count *= int(dim)
        if state.get("numpy_array_alignment_bytes") is not None:
            padding = self._fh.read(1)
            self._fh.read(int.from_bytes(padding, "little"))
        _read_exactly(self._fh, count * itemsize)


def _read_exactly(fh, n: int) -> None:
    while n > 0:
        chunk = fh.read(min(n, 1 << 24))
        if not chunk:
            raise ModelError(
                "The file ends inside an array: it is truncated.", "Save the model again."
            )
        n -= len(chunk)


def decompress(data: bytes) -> tuple[bytes, str | None]:
    """joblib compresses the whole stream; recognise its formats by their magic bytes."""
    if data[:1] == b"\x80":  # a plain pickle (protocol 2+)
        return data, None
    try:
        if data[:2] == b"\x1f\x8b":
            return gzip.decompress(data), "gzip"
        if data[:1] == b"\x78":
            return zlib.decompress(data), "zlib"
        if data[:3] == b"BZh":
            return bz2.decompress(data), "bz2"
        if data[:5] == b"\xfd7zXZ":
            return lzma.decompress(data, format=lzma.FORMAT_XZ), "xz"
        if data[:2] == b"\x5d\x00":
            return lzma.decompress(data, format=lzma.FORMAT_ALONE), "lzma"
    except (OSError, zlib.error, lzma.LZMAError, EOFError) as exc:
        raise ModelError(
            f"The file looks compressed but does not decompress: {exc}", "Save the model again."
        ) from exc
    if data[:4] == b"\x04\x22\x4d\x18":
        raise ModelError(
            "The file is lz4-compressed, which mlayer cannot read.",
            "Save it with joblib.dump(..., compress=3) (zlib).",
        )
    return data, None


def scan_bytes(data: bytes) -> PickleScan:
    """Scan a joblib file's (or a plain pickle's) bytes."""
    raw, compression = decompress(data)
    found: list[str] = []
    built: list[_Stub] = []
    try:
        top = _Scanner(io.BytesIO(raw), found, built).load()
    except ModelError:
        raise
    except Exception as exc:  # a corrupt stream surfaces as any of pickle's internal errors
        raise ModelError(
            f"Not a readable pickle: {type(exc).__name__}: {exc}",
            "Pass a file written by joblib.dump or pickle.dump.",
        ) from exc
    versions: dict[str, str] = {}
    for obj in built:
        state = obj.state
        if isinstance(state, dict) and isinstance(state.get("_sklearn_version"), str):
            versions.setdefault(obj._global, state["_sklearn_version"])
    top_class = top._global if isinstance(top, _Stub) else type(top).__name__
    return PickleScan(tuple(found), top_class, versions, compression)


def scan_file(path: str | Path) -> PickleScan:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ModelError(f"Cannot read {path}: {exc.strerror}", "Check the path.") from exc
    try:
        return scan_bytes(data)
    except ModelError as exc:
        raise ModelError(f"{path}: {exc.message}", exc.hint) from exc
