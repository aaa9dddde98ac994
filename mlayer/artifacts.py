"""Read the user's model files: what they are, what they import, and whether they can serve.

Two checks, in this order: the static one (mlayer.pickles: globals and recorded sklearn
versions, nothing executed), then the load-time one (joblib.load in this environment: the model
must have ``predict``, every preprocessor ``transform``). sklearn/joblib are imported lazily so
the rest of the CLI starts without them.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import getpass
import importlib.metadata
import platform
import socket
import sys
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlayer import manifest as mf
from mlayer import samples as sample_io
from mlayer.errors import ModelError, UsageError
from mlayer.models import LayerArtifact
from mlayer.packaging import sha256_file
from mlayer.pickles import PickleScan, scan_file
from mlayer.sample_kinds import id_notes, refine_schema
from mlayer.schema import choose_input, table_schema


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
    outputs: dict
    n_features: int | None
    input_reason: str = ""  # why this input kind: publish-model prints it
    input_schema: dict | None = None  # table models: the columns (mlayer.schema)
    samples: tuple[dict, ...] = ()  # --sample records with their publish-time predictions
    samples_dropped: int = 0  # --sample records past the first MAX_SAMPLES, not kept
    loaded: tuple = ()  # the loaded objects, in order (--format onnx converts them)
    schema_notes: tuple[str, ...] = ()  # what --sample told about columns (mlayer.sample_kinds)

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


def _load(path: Path) -> Any:
    import joblib

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the version check is the static one; don't spam
        try:
            return joblib.load(path)
        except Exception as exc:
            raise ModelError(
                f"{path} does not load here: {type(exc).__name__}: {exc}",
                "If it needs your own code, ship that module with --code module.py.",
            ) from exc


def _outputs(model: Any) -> dict:
    try:
        proba = callable(getattr(model, "predict_proba", None))
    except Exception:  # e.g. SVC(probability=False) raises on attribute access
        proba = False
    return {"predict": True, "predict_proba": proba, "classes": getattr(model, "classes_", None)}


def inspect_pipeline(
    model: str | Path,
    preprocessors: Sequence[str | Path] = (),
    code_files: Sequence[str | Path] = (),
    input_kind: str | None = None,
    sample: str | Path | None = None,
    trusted: Sequence[str] = (),  # --trust MODULE.NAME: globals accepted beyond the allowlist
) -> Pipeline:
    """Scan, then load and check, every artifact; refuse what cannot serve on Lambda.

    ``sample``: a JSON-lines file of input records (``--sample``); up to 20 are kept with the
    predictions made here, for the function's cold-start self-check.
    """
    paths = tuple(Path(p) for p in (*preprocessors, model))
    for p in paths:
        if not p.is_file():
            raise UsageError(f"{p} does not exist.", "Check the path of the model and of every -p.")
    code = read_code_files(code_files)
    scans = tuple(scan_file(p, trusted, [c.module for c in code]) for p in paths)
    for path, scan in zip(paths, scans, strict=True):
        hard = mf.global_problems(scan.globals, None, [c.module for c in code])
        if hard:
            raise ModelError(
                f"{path}: {hard[0]}",
                "Move that class or function into a module (e.g. my_transformers.py), import it from "
                "there, save the model again, and publish with --code my_transformers.py.",
            )
    artifacts = []
    loaded = []
    with _importable(code):
        for index, (path, scan) in enumerate(zip(paths, scans, strict=True)):
            obj = _load(path)
            role = "model" if index == len(paths) - 1 else "preprocessor"
            need = "predict" if role == "model" else "transform"
            if not callable(getattr(obj, need, None)):
                raise ModelError(
                    f"{path} holds a {type(obj).__name__}, which has no {need}() "
                    f"(the {'model, last' if role == 'model' else 'preprocessors'} must).",
                    "Pass preprocessors with -p in pipeline order and the estimator as MODEL.",
                )
            cls = scan.top_class or f"{type(obj).__module__}.{type(obj).__qualname__}"
            artifacts.append(
                LayerArtifact(
                    file=mf.artifact_file_name(index, path.name, role),
                    role=role,
                    sha256=sha256_file(path),
                    size=path.stat().st_size,
                    cls=cls,
                    sklearn_version=scan.top_sklearn_version,
                    globals=scan.globals,
                )
            )
            loaded.append(obj)
    if input_kind and input_kind != "auto":
        kind, reason = input_kind, f"{input_kind}: asked for (--input {input_kind})"
    else:
        kind, reason = choose_input(loaded[0], artifacts[0].cls)
    schema = table_schema(loaded) if kind == "table" else None
    n_features = getattr(loaded[0], "n_features_in_", None) if kind == "features" else None
    outputs = _outputs(loaded[-1])
    samples: list[dict] = []
    dropped = 0
    notes = id_notes(schema) if schema is not None else []
    if sample is not None:
        records, dropped = sample_io.read_samples(sample)
        if schema is not None:
            schema, notes = refine_schema(schema, records, loaded)
        with _importable(code):
            samples = sample_io.expected_outputs(
                loaded, records, kind, schema, bool(outputs["predict_proba"])
            )
    return Pipeline(
        paths=paths,
        artifacts=tuple(artifacts),
        scans=scans,
        code=code,
        input_kind=kind,
        outputs=outputs,
        n_features=int(n_features) if n_features is not None else None,
        input_reason=reason,
        input_schema=schema,
        samples=tuple(samples),
        samples_dropped=dropped,
        loaded=tuple(loaded),
        schema_notes=tuple(notes),
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


def provenance(where: Path) -> dict:
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
