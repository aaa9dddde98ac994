"""Load the scanned pipeline in a child process, so a model that crashes the loader is refused.

The scan (mlayer.model.pickles) judges a pickle without running it; loading it still runs scikit-
learn's native code on what the pickle holds. That happens here in a child Python (one per
publish: ``sys.executable`` on this interpreter's path, a fresh process that re-runs none of
the caller's code; on Linux a fork of a warm server started the same way, mlayer.model.load_server),
given the very bytes that were hashed and scanned, on its stdin. The child loads each artifact
from memory, checks its role, chooses the input kind and schema, reads the classes and runs the
``--sample`` records, and answers with plain JSON. A child killed by a signal (a segmentation
fault in native code, an abort) becomes a ModelError naming the signal: exit 1, nothing
published, mlayer still standing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from mlayer import errors
from mlayer.model import load_server


@dataclass(frozen=True)
class Loaded:
    """What publish needs from the loaded pipeline, as plain data."""

    classes: tuple[str, ...]  # each artifact's top object's class
    input_kind: str
    input_reason: str
    input_schema: dict[str, Any] | None
    schema_notes: tuple[str, ...]
    n_features: int | None
    outputs: dict[str, Any]
    samples: tuple[dict[str, Any], ...]


def load_in_child(
    blobs: Sequence[bytes],
    paths: Sequence[Path],
    code_dirs: Sequence[str],
    top_classes: Sequence[str | None],
    input_kind: str | None,
    records: Sequence[dict[str, Any]] | None,
) -> Loaded:
    """Load and inspect the pipeline in a child process; ModelError if it fails or crashes."""
    request = {
        "paths": [str(p) for p in paths],
        "code_dirs": [os.path.abspath(d) for d in code_dirs],  # the warm server's cwd is its own
        "top_classes": list(top_classes),
        "input_kind": input_kind,
        "records": None if records is None else list(records),
    }
    given = b"".join(load_server.frame(part) for part in (json.dumps(request).encode(), *blobs))
    ran = load_server.run(given, _HANDLER) if load_server.available() else None
    if ran is None:  # not Linux, or the warm server failed: a fresh child for this request
        ran = _one_shot(given)
    if ran.code != 0 or not ran.answer:
        raise _crashed(ran.code, paths, ran.stderr)
    return _answer(json.loads(ran.answer))


def _one_shot(given: bytes) -> load_server.Ran:
    # a fresh interpreter on this one's path: nothing of the caller's __main__ is re-run
    boot = "import sys, json; sys.path[:0] = json.loads(sys.argv[1]); " + _BOOT
    child = subprocess.run(
        [sys.executable, "-c", boot, json.dumps(sys.path)],
        input=given,
        capture_output=True,
        check=False,
    )
    return load_server.Ran(child.returncode, child.stdout, child.stderr)


_BOOT = "from mlayer.model.load_child import child_main; child_main()"
_HANDLER = "mlayer.model.load_child:answer"  # what a fork of the warm server calls


def _crashed(code: int, paths: Sequence[Path], stderr: bytes) -> errors.ModelError:
    where = ", ".join(str(p) for p in paths)
    if code < 0:
        try:
            name = f"signal {-code} ({signal.Signals(-code).name})"
        except ValueError:
            name = f"signal {-code}"
        what = f"the model crashed the loader: {name}"
    else:
        last = (stderr.decode("utf-8", "replace").strip().splitlines() or ["no message"])[-1]
        what = f"the loader exited with code {code} before answering ({last})"
    return errors.ModelError(
        f"{where}: refused: {what}. Nothing was published.",
        "Native code failed on what the pickle holds: save the model again with joblib.dump "
        "from the estimator you trained, with the scikit-learn of your deps layer.",
    )


def _answer(doc: dict[str, Any]) -> Loaded:
    if "error" in doc:
        cls = getattr(errors, doc["error"], None)
        if not (isinstance(cls, type) and issubclass(cls, errors.MlayerError)):
            cls = errors.ModelError
        raise cls(doc["message"], doc.get("hint", ""))
    return Loaded(
        classes=tuple(doc["classes"]),
        input_kind=doc["input_kind"],
        input_reason=doc["input_reason"],
        input_schema=doc["input_schema"],
        schema_notes=tuple(doc["schema_notes"]),
        n_features=doc["n_features"],
        outputs=doc["outputs"],
        samples=tuple(doc["samples"]),
    )


def child_main() -> None:
    """The one-shot child: the request and the bytes on stdin, the answer on stdout."""
    answer_to = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever the model prints goes to stderr, not into the answer
    answer_to.write(answer(sys.stdin.buffer))
    answer_to.close()


def answer(given: BinaryIO) -> bytes:
    """Read the request and the bytes, load, inspect: the answer as JSON (a refusal included)."""
    try:
        request = json.loads(load_server.unframe(given))
        blobs = [load_server.unframe(given) for _ in request["paths"]]
        sys.path[:0] = request["code_dirs"]
        doc = inspect_loaded(load_all(blobs, request["paths"]), request)
    except errors.MlayerError as exc:
        doc = {"error": type(exc).__name__, "message": exc.message, "hint": exc.hint}
    except Exception as exc:  # reported, never a traceback on the user's terminal
        doc = {"error": "ModelError", "message": f"{type(exc).__name__}: {exc}", "hint": ""}
    return json.dumps(doc).encode()


def load_all(blobs: Sequence[bytes], paths: Sequence[str]) -> list[Any]:
    """joblib.load of each artifact's bytes (never the file again), checked for its role."""
    import io
    import warnings

    import joblib

    loaded = []
    for index, (blob, path) in enumerate(zip(blobs, paths, strict=True)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the version check is the static one; don't spam
            try:
                obj = joblib.load(io.BytesIO(blob))
            except Exception as exc:
                raise errors.ModelError(
                    f"{path} does not load here: {type(exc).__name__}: {exc}",
                    "If it needs your own code, ship that module with --code module.py.",
                ) from exc
        model = index == len(blobs) - 1
        need = "predict" if model else "transform"
        if not callable(getattr(obj, need, None)):
            raise errors.ModelError(
                f"{path} holds a {type(obj).__name__}, which has no {need}() "
                f"(the {'model, last' if model else 'preprocessors'} must).",
                "Pass preprocessors with -p in pipeline order and the estimator as MODEL.",
            )
        loaded.append(obj)
    return loaded


def _outputs(model: Any) -> dict[str, Any]:
    from mlayer.model.manifest import _json_classes

    try:
        proba = callable(getattr(model, "predict_proba", None))
    except Exception:  # e.g. SVC(probability=False) raises on attribute access
        proba = False
    classes = _json_classes(getattr(model, "classes_", None))
    return {"predict": True, "predict_proba": proba, "classes": classes}


def inspect_loaded(loaded: Sequence[Any], request: dict[str, Any]) -> dict[str, Any]:
    """Everything publish learns from the loaded objects, as JSON values."""
    from mlayer.model import samples as sample_io
    from mlayer.model.sample_kinds import id_notes, refine_schema
    from mlayer.model.schema import choose_input, table_schema

    classes = [
        top or f"{type(obj).__module__}.{type(obj).__qualname__}"
        for top, obj in zip(request["top_classes"], loaded, strict=True)
    ]
    asked = request["input_kind"]
    if asked and asked != "auto":
        kind, reason = asked, f"{asked}: asked for (--input {asked})"
    else:
        kind, reason = choose_input(loaded[0], classes[0])
    schema = table_schema(loaded) if kind == "table" else None
    n_features = getattr(loaded[0], "n_features_in_", None) if kind == "features" else None
    outputs = _outputs(loaded[-1])
    notes = id_notes(schema) if schema is not None else []
    samples: list[dict[str, Any]] = []
    records = request["records"]
    if records is not None:
        if schema is not None:
            schema, notes = refine_schema(schema, records, loaded)
        samples = sample_io.expected_outputs(
            loaded, records, kind, schema, bool(outputs["predict_proba"])
        )
    return {
        "classes": classes,
        "input_kind": kind,
        "input_reason": reason,
        "input_schema": schema,
        "schema_notes": list(notes),
        "n_features": int(n_features) if n_features is not None else None,
        "outputs": outputs,
        "samples": samples,
    }
