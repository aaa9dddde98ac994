"""Read the user's model files: what they are, what they import, and whether they can serve.

Two checks, in this order: the static one (mlayer.model.pickles: globals and recorded sklearn
versions, nothing executed), then the load-time one (joblib.load in a child process,
mlayer.model.load_child, so a crash is a refusal: the model must have ``predict``, every preprocessor
``transform``). Each file is read once; those bytes are hashed, scanned, loaded and zipped.
sklearn/joblib are imported lazily so the rest of the CLI starts without them.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import getpass
import hashlib
import importlib.metadata
import platform
import socket
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlayer.errors import ModelError, UsageError
from mlayer.model import manifest as mf
from mlayer.model import samples as sample_io
from mlayer.model.load_child import Loaded, load_in_child
from mlayer.model.packaging import sha256_file
from mlayer.model.pickles import PickleScan, scan_file
from mlayer.publishing.models import LayerArtifact


@dataclass(frozen=True)
class CodeFile:
    path: Path
    module: str
    sha256: str
    size: int

    @property
    def file(self) -> str:
        return f"python/{self.module}.py"


@dataclass(frozen=True)
class Pipeline:
    """Everything publish-model learned from the files, before touching AWS."""

    paths: tuple[Path, ...]
    artifacts: tuple[LayerArtifact, ...]
    scans: tuple[PickleScan, ...]
    code: tuple[CodeFile, ...]
    input_kind: str
    outputs: dict[str, Any]
    n_features: int | None
    input_reason: str = ""  # why this input kind: publish-model prints it
    input_schema: dict[str, Any] | None = None  # table models: the columns (mlayer.model.schema)
    samples: tuple[dict[str, Any], ...] = ()  # --sample records with their publish-time predictions
    samples_dropped: int = 0  # --sample records past the first MAX_SAMPLES, not kept
    schema_notes: tuple[
        str, ...
    ] = ()  # what --sample told about columns (mlayer.model.sample_kinds)
    blobs: tuple[bytes, ...] = ()  # each artifact's bytes, as hashed, scanned and loaded

    def judged(self, folder: Path) -> list[Path]:
        """Files holding the bytes that were judged (not the user's files, read again), written
        into ``folder`` (publish's private temporary folder) for the S3 upload."""
        if not self.blobs:
            return list(self.paths)
        out = []
        for artifact, blob in zip(self.artifacts, self.blobs, strict=True):
            out.append(folder / f"judged-{artifact.sha256}")
            out[-1].write_bytes(blob)
        return out

    @functools.cached_property
    def loaded(self) -> tuple[Any, ...]:
        """The objects, loaded in this process from the same bytes (--format onnx converts
        them): only after the child (mlayer.model.load_child) loaded these bytes without crashing."""
        from mlayer.model.load_child import load_all

        with _importable(self.code):
            return tuple(load_all(self.blobs, [str(p) for p in self.paths]))

    @property
    def code_modules(self) -> list[str]:
        return [c.module for c in self.code]


def read_code_files(paths: Sequence[str | Path]) -> tuple[CodeFile, ...]:
    out = []
    for raw in paths:
        path = Path(raw)
        if not path.is_file() or path.suffix != ".py" or not path.stem.isidentifier():
            raise UsageError(
                f"--code {raw} is not a Python module file.", "Pass a file like my_transformers.py."
            )
        _check_syntax(path)
        out.append(CodeFile(path, path.stem, sha256_file(path), path.stat().st_size))
    modules = [c.module for c in out]
    if len(set(modules)) != len(modules):
        raise UsageError("Two --code files have the same module name.", "Rename one of them.")
    return tuple(out)


def _check_syntax(path: Path) -> None:
    """A module that cannot compile would only fail at the function's cold start: refuse it now."""
    try:
        compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise UsageError(
            f"--code {path} does not compile: {exc.msg} (line {exc.lineno}).",
            "Fix the module (python -m py_compile shows the error) and publish again.",
        ) from exc


@contextlib.contextmanager
def _importable(code: Sequence[CodeFile]) -> Iterator[None]:
    """The --code modules importable while joblib loads (they will be on Lambda: /opt/python)."""
    dirs = [str(c.path.resolve().parent) for c in code]
    saved = list(sys.path)
    sys.path[:0] = dirs
    try:
        yield
    finally:
        sys.path[:] = saved


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ModelError(f"Cannot read {path}: {exc.strerror}", "Check the path.") from exc


def inspect_pipeline(
    model: str | Path,
    preprocessors: Sequence[str | Path] = (),
    code_files: Sequence[str | Path] = (),
    input_kind: str | None = None,
    sample: str | Path | None = None,
    trusted: Sequence[str] = (),  # --trust MODULE.NAME: globals accepted beyond the allowlist
) -> Pipeline:
    """Scan, then load and check (in a child process: mlayer.model.load_child), every artifact.

    Each file is read once: the bytes hashed are the bytes scanned, loaded and published.
    ``sample``: a JSON-lines file of input records (``--sample``); up to 20 are kept with the
    predictions made when loading, for the function's cold-start self-check.
    """
    paths = _existing(model, preprocessors)
    code = read_code_files(code_files)
    modules = [c.module for c in code]
    blobs = tuple(_read(p) for p in paths)
    scans = _scanned(paths, blobs, trusted, modules)
    found, dropped = _load(paths, blobs, code, scans, input_kind, sample)
    artifacts = _artifacts(paths, blobs, scans, found.classes)
    return Pipeline(
        paths=paths,
        artifacts=artifacts,
        scans=scans,
        code=code,
        input_kind=found.input_kind,
        outputs=found.outputs,
        n_features=found.n_features,
        input_reason=found.input_reason,
        input_schema=found.input_schema,
        samples=found.samples,
        samples_dropped=dropped,
        schema_notes=found.schema_notes,
        blobs=blobs,
    )


def _existing(model: str | Path, preprocessors: Sequence[str | Path]) -> tuple[Path, ...]:
    """The pipeline's files in order (preprocessors, then the model), each checked to exist
    before any is read, so a typo is a usage error rather than a half-done scan."""
    paths = tuple(Path(p) for p in (*preprocessors, model))
    for p in paths:
        if not p.is_file():
            raise UsageError(f"{p} does not exist.", "Check the path of the model and of every -p.")
    return paths


def _scanned(
    paths: tuple[Path, ...], blobs: tuple[bytes, ...], trusted: Sequence[str], modules: list[str]
) -> tuple[PickleScan, ...]:
    """Every file's static scan (nothing executed), then the first global no published module
    can provide refused: such a pickle could never load on Lambda."""
    scans = tuple(scan_file(p, trusted, modules, data=b) for p, b in zip(paths, blobs, strict=True))
    for path, scan in zip(paths, scans, strict=True):
        hard = mf.global_problems(scan.globals, None, modules)
        if hard:
            raise ModelError(
                f"{path}: {hard[0]}",
                "Move that class or function into a module (e.g. my_transformers.py), import it from "
                "there, save the model again, and publish with --code my_transformers.py.",
            )
    return scans


def _load(
    paths: tuple[Path, ...],
    blobs: tuple[bytes, ...],
    code: tuple[CodeFile, ...],
    scans: tuple[PickleScan, ...],
    input_kind: str | None,
    sample: str | Path | None,
) -> tuple[Loaded, int]:
    """The load-time check in a child process (a crash is a refusal, not ours), run on the
    --sample records; with how many records past the kept ones were dropped."""
    records, dropped = sample_io.read_samples(sample) if sample is not None else (None, 0)
    found = load_in_child(
        blobs,
        paths,
        [str(c.path.resolve().parent) for c in code],
        [scan.top_class for scan in scans],
        input_kind,
        records,
    )
    return found, dropped


def _artifacts(
    paths: tuple[Path, ...],
    blobs: tuple[bytes, ...],
    scans: tuple[PickleScan, ...],
    classes: Sequence[str],
) -> tuple[LayerArtifact, ...]:
    """The layer's entries, hashed from the very bytes that were scanned and loaded; the last
    file is the model, the others its preprocessors."""
    last = len(paths) - 1
    return tuple(
        LayerArtifact(
            file=mf.artifact_file_name(i, path.name, "model" if i == last else "preprocessor"),
            role="model" if i == last else "preprocessor",
            sha256=hashlib.sha256(blob).hexdigest(),
            size=len(blob),
            cls=cls,
            sklearn_version=scan.top_sklearn_version,
            globals=scan.globals,
        )
        for i, (path, blob, scan, cls) in enumerate(zip(paths, blobs, scans, classes, strict=True))
    )


def environment_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("scikit-learn", "numpy", "joblib"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def _git_commit(start: Path) -> str | None:
    """HEAD's commit of the repository holding ``start``, read from .git (no subprocess)."""
    for folder in (start.resolve(), *start.resolve().parents):
        git = folder / ".git"
        if not git.is_dir():
            continue
        try:
            head = (git / "HEAD").read_text().strip()
            if not head.startswith("ref: "):
                return head or None
            ref = head[5:]
            loose = git / ref
            if loose.is_file():
                return loose.read_text().strip() or None
            packed = git / "packed-refs"
            if packed.is_file():
                for line in packed.read_text().splitlines():
                    if line.endswith(" " + ref):
                        return line.split(" ", 1)[0]
        except OSError:
            return None
        return None
    return None


def provenance(where: Path) -> dict[str, Any]:
    """Who published, from which machine and commit (git_dirty unknown without running git)."""
    try:
        user = getpass.getuser()
    except Exception:
        user = None
    return {
        "user": user,
        "host": socket.gethostname(),
        "git_commit": _git_commit(where),
        "git_dirty": None,
    }


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
