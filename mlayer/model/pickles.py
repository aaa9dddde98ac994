"""Decide whether a pickle may be loaded, reading its opcodes without running any of them.

joblib.load() runs whatever the pickle names, so before loading a user's file mlayer replays
the pickle's opcodes on a stack of inert stubs: every global is judged by the allowlist
(mlayer.model.trust) and replaced by a stub, calls only build more stubs. Out come the globals, the
top object's class and the scikit-learn version each estimator recorded (``_sklearn_version``),
or an UntrustedPickleError naming the refused globals and the file. Refusal is raised here, in
``scan_file``, not left to a check each caller would have to remember: a caller that scans
before joblib.load cannot go on with a refused file. (Why not fickling or picklescan: see
mlayer.model.trust.)

joblib's format is a pickle stream, possibly compressed as a whole (zlib, gzip, bz2, xz, lzma),
where each numpy array is a ``NumpyArrayWrapper`` whose BUILD is followed by the raw array bytes
(or by a nested pickle for object arrays). The scan skips those bytes exactly as joblib reads
them, with numpy computing the dtype's item size from the same arguments; anything that could
make joblib read a different count than the scan (a wrapper made any other way than joblib
writes it, passed to a call, an unusual shape or dtype, a nested pickle whose frame outlives its
STOP) is refused, so the opcodes scanned are the opcodes joblib would run. Opcodes that name
globals outside GLOBAL/STACK_GLOBAL (INST, OBJ, EXT1/2/4, PERSID) and names computed at load
time are refused outright.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from mlayer.errors import ModelError, UntrustedPickleError
from mlayer.model import call_guard, refusal_hints, trust
from mlayer.model.native_state import Checker
from mlayer.model.replay import State, Walker, stream_size
from mlayer.model.stubs import Refusal, Stub

_REVIEW = "Save the model again with joblib.dump; mlayer does not load pickles written by hand."


@dataclass(frozen=True)
class PickleScan:
    """What a pickle references: its globals, its top object's class, the sklearn versions."""

    globals: tuple[str, ...]
    top_class: str | None
    sklearn_versions: dict[str, str] = field(default_factory=dict)  # class -> recorded version
    compression: str | None = None
    trusted_globals: tuple[str, ...] = ()  # accepted only through --trust: the manifest lists them

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
    except (OSError, ValueError, zlib.error, lzma.LZMAError, EOFError) as exc:
        raise ModelError(
            f"The file looks compressed but does not decompress: {exc}", "Save the model again."
        ) from exc
    if data[:4] == b"\x04\x22\x4d\x18":
        raise ModelError(
            "The file is lz4-compressed, which mlayer cannot read.",
            "Save it with joblib.dump(..., compress=3) (zlib).",
        )
    return data, None


def _refused_error(refused: list[trust.Verdict], where: str) -> UntrustedPickleError:
    names = tuple(v.qualname for v in refused)
    listed = "; ".join(f"{v.qualname} ({v.reason})" for v in refused)
    return UntrustedPickleError(
        f"{where}refused before loading: the pickle names {listed}.",
        refusal_hints.hint(names),  # mlayer.model.refusal_hints: never a --trust for code-running
        names,
    )


def scan_bytes(
    data: bytes, trusted: Iterable[str] = (), code_modules: Iterable[str] = ()
) -> PickleScan:
    """Scan a joblib file's (or a plain pickle's) bytes; raise if anything is not trusted."""
    raw, compression = decompress(data)
    return _scan(io.BytesIO(raw), compression, trusted, code_modules, raw)


def _native_error(flaws: list[str]) -> UntrustedPickleError:
    more = f" (and {len(flaws) - 3} more)" if len(flaws) > 3 else ""
    return UntrustedPickleError(
        "refused before loading: its saved state is not one scikit-learn writes, and native "
        f"code would index memory with it: {'; '.join(flaws[:3])}{more}.",
        "Save the model again with joblib.dump from the estimator you trained; a state edited "
        "after training is never loaded.",
    )


def _scan(fh, compression: str | None, trusted, code_modules, raw=None) -> PickleScan:
    scan = State(trust.Policy(trusted, code_modules))
    scan.native = Checker(fh, raw)  # mlayer.model.native_state: the states native code indexes
    scan.limit = call_guard.limit_for(stream_size(fh))
    try:
        top = Walker(fh, scan, joblib_mode=True).load()
    except Refusal as exc:
        refused = [v for v in scan.verdicts() if v.kind == trust.REFUSED]
        named = f" (it also names {', '.join(v.qualname for v in refused)})" if refused else ""
        raise UntrustedPickleError(
            f"refused before loading: the pickle uses {exc}{named}.",
            _REVIEW,
            tuple(v.qualname for v in refused),
        ) from None
    except ModelError:
        raise
    except Exception as exc:  # a corrupt stream surfaces as any of pickle's internal errors
        refused = [v for v in scan.verdicts() if v.kind == trust.REFUSED]
        if refused:  # what it names is reason enough, readable or not
            raise _refused_error(refused, "") from None
        raise ModelError(
            f"Not a readable pickle: {type(exc).__name__}: {exc}",
            "Pass a file written by joblib.dump or pickle.dump.",
        ) from None
    verdicts = scan.verdicts()
    refused = [v for v in verdicts if v.kind == trust.REFUSED]
    if refused:
        raise _refused_error(refused, "")
    flaws = scan.native.finish(top)
    if flaws:
        raise _native_error(flaws)
    versions: dict[str, str] = {}
    for obj in scan.built:
        state = obj.state
        if isinstance(state, dict) and isinstance(state.get("_sklearn_version"), str):
            versions.setdefault(type(obj).qualname, state["_sklearn_version"])
    top_class = type(top).qualname if isinstance(top, Stub) else type(top).__name__
    return PickleScan(
        tuple(v.qualname for v in verdicts),
        top_class,
        versions,
        compression,
        tuple(v.qualname for v in verdicts if v.via == "trust"),
    )


def scan_file(
    path: str | Path,
    trusted: Iterable[str] = (),
    code_modules: Iterable[str] = (),
    data: bytes | None = None,  # the file's bytes, read once by the caller, who loads them too
) -> PickleScan:
    """Scan one model file; UntrustedPickleError (naming the file) unless every global passes."""
    try:
        if data is not None:
            return scan_bytes(data, trusted, code_modules)
        with open(path, "rb") as fh:
            if fh.peek(1)[:1] == b"\x80":  # not compressed: read it as joblib does, streaming
                return _scan(fh, None, trusted, code_modules)
            return scan_bytes(fh.read(), trusted, code_modules)
    except OSError as exc:
        raise ModelError(f"Cannot read {path}: {exc.strerror}", "Check the path.") from exc
    except UntrustedPickleError as exc:
        hint = exc.hint
        if exc.globals and hint == refusal_hints.hint(exc.globals):  # now knowing the folder
            hint = refusal_hints.hint(exc.globals, Path(path).parent)
        raise UntrustedPickleError(f"{path}: {exc.message}", hint, exc.globals, str(path)) from None
    except ModelError as exc:
        raise ModelError(f"{path}: {exc.message}", exc.hint) from exc
