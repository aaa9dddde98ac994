"""The model manifest (docs/FORMATS.md): build it, write/read its JSON; its checks against a
dependencies layer's lock are lock_checks.py's (re-exported here, where callers look for them).

Pure: every fact (hashes, classes, versions, who/when) comes in as arguments, so the manifest
that lands in /opt/mlayer/manifest.json is a function of its inputs and is unit-tested as such.
function/ reads this JSON as written; the field names here are the contract.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from mlayer.errors import ModelError
from mlayer.model.lock_checks import RUNTIME_MODULES as RUNTIME_MODULES
from mlayer.model.lock_checks import code_modules as code_modules
from mlayer.model.lock_checks import compatibility_problems as compatibility_problems
from mlayer.model.lock_checks import global_problems as global_problems
from mlayer.model.lock_checks import version_problems as version_problems
from mlayer.publishing.models import LayerArtifact

SCHEMA_VERSION = 1
INPUT_KINDS = ("text", "features", "record", "table")
SHORT_SHA = 12
REQUIRED_KEYS = (
    "schema_version",
    "model_version",
    "content_sha256",
    "created_by",
    "input_kind",
    "artifacts",
    "code",
    "outputs",
    "n_features",
    "versions",
    "globals",
    "metrics",
    "description",
)
# Written by every mlayer that knows them; a manifest from before may lack them.
OPTIONAL_KEYS = ("input_schema", "samples", "created_at")  # created_at: the bucket's copy only


def content_sha256(artifact_shas: Iterable[str], code_shas: Iterable[str] = ()) -> str:
    """sha256 over the artifacts' then the code files' sha256s, in order: the model's identity.

    The manifest itself (label, time, user) is left out, so publishing the same files twice is
    recognised as the same content.
    """
    digest = hashlib.sha256()
    for sha in (*artifact_shas, "--code--", *code_shas):
        digest.update(sha.encode("ascii") + b"\n")
    return digest.hexdigest()


def short_sha(content_sha: str) -> str:
    return content_sha[:SHORT_SHA]


def layer_description(label: str, content_sha: str) -> str:
    """The layer version's Description: ``<label> sha:<short>``, ≤256 characters."""
    suffix = f" sha:{short_sha(content_sha)}"
    return label[: 256 - len(suffix)] + suffix


def description_sha(description: str) -> str | None:
    """The short content sha a Description carries, or None when it is not mlayer's."""
    for word in (description or "").split():
        if word.startswith("sha:") and len(word) == 4 + SHORT_SHA:
            return word[4:]
    return None


def artifact_file_name(index: int, path_name: str, role: str) -> str:
    """``NN-<name>.joblib``: the number keeps the pipeline order visible in /opt/mlayer."""
    stem = "model" if role == "model" else path_name.rsplit(".", 1)[0].lower()
    stem = "".join(c if c.isalnum() or c in "-_" else "-" for c in stem) or "artifact"
    return f"{index:02d}-{stem}.joblib"


def build_manifest(
    *,
    label: str,
    artifacts: Sequence[LayerArtifact],
    code: Sequence[Mapping[str, Any]],
    input_kind: str,
    outputs: Mapping[str, Any],
    n_features: int | None,
    versions: Mapping[str, str],
    created_at: str,
    created_by: Mapping[str, Any],
    metrics: Mapping[str, Any] | None = None,
    description: str = "",
    input_schema: Mapping[str, Any] | None = None,
    samples: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The manifest dict, validated: the last artifact is the model, the rest preprocessors.

    ``input_schema`` (table inputs: mlayer.model.schema.table_schema) and ``samples`` (mlayer.model.samples)
    are what the function checks records and its own predictions against.
    """
    check_pipeline(artifacts, input_kind, input_schema)
    code_list = [{"file": c["file"], "sha256": c["sha256"], "size": int(c["size"])} for c in code]
    globals_ = sorted({g for a in artifacts for g in a.globals})
    return {
        "schema_version": SCHEMA_VERSION,
        "model_version": label,
        "content_sha256": content_sha256(
            [a.sha256 for a in artifacts], [c["sha256"] for c in code_list]
        ),
        "created_at": created_at,
        "created_by": dict(created_by),
        "input_kind": input_kind,
        "artifacts": [_artifact_entry(a) for a in artifacts],
        "code": code_list,
        "outputs": _outputs_entry(outputs),
        "n_features": n_features,
        "versions": dict(versions),
        "globals": globals_,
        "metrics": dict(metrics or {}),
        "description": description,
        "input_schema": dict(input_schema) if input_schema is not None else None,
        "samples": [dict(s) for s in samples],
    }


def check_pipeline(
    artifacts: Sequence[LayerArtifact], input_kind: str, input_schema: Mapping[str, Any] | None
) -> None:
    """Refuse what the function could not load or feed: no artifact, an unknown input kind, a
    table without its schema (or a schema without a table), a model that is not last."""
    if not artifacts:
        raise ModelError(
            "A model layer needs at least one artifact.", "Pass MODEL (and -p for preprocessors)."
        )
    if input_kind not in INPUT_KINDS:
        raise ModelError(
            f"Unknown input kind {input_kind!r}.", f"Use one of {', '.join(INPUT_KINDS)}."
        )
    if (input_kind == "table") != (input_schema is not None):
        raise ModelError(
            "A table input needs its input schema, and only a table input has one.",
            "Let mlayer.model.schema.table_schema describe the pipeline fitted on a DataFrame.",
        )
    roles = [a.role for a in artifacts]
    if roles[-1] != "model" or any(r != "preprocessor" for r in roles[:-1]):
        raise ModelError(
            "The pipeline must be preprocessors then one model.", "Pass the model last."
        )


def _artifact_entry(a: LayerArtifact) -> dict[str, Any]:
    return {
        "file": a.file,
        "role": a.role,
        "sha256": a.sha256,
        "size": a.size,
        "class": a.cls,
        "sklearn_version": a.sklearn_version,
    }


def _outputs_entry(outputs: Mapping[str, Any]) -> dict[str, Any]:
    """What the model answers: predict and predict_proba flags, its classes as JSON values."""
    return {
        "predict": bool(outputs.get("predict", True)),
        "predict_proba": bool(outputs.get("predict_proba", False)),
        "classes": _json_classes(outputs.get("classes")),
    }


def _json_classes(classes: Any) -> list[Any] | None:
    """``classes_`` as JSON values: a numpy scalar as the Python value it holds (numpy 2 names
    its bool type ``bool``, so names are not a test), anything else JSON cannot hold as text."""
    if classes is None:
        return None
    out: list[Any] = []
    for c in classes:
        if getattr(c, "ndim", 0):  # a multi-output classifier's classes_: one array per output
            out.append(_json_classes(c))
            continue
        item = getattr(c, "item", None)
        if callable(item) and not isinstance(c, str):
            c = item()
        if isinstance(c, str):
            out.append(str(c))  # numpy.str_ too
        elif c is None or isinstance(c, (bool, int, float)):
            out.append(c)
        else:
            out.append(str(c))
    return out


def to_json(manifest: Mapping[str, Any]) -> bytes:
    """Stable bytes: sorted keys, two-space indent, UTF-8, trailing newline."""
    return (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode(
        "utf-8"
    )


def from_json(data: bytes | str) -> dict[str, Any]:
    """Parse and check a manifest; refuse a schema this mlayer does not know."""
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise ModelError(
            f"The manifest is not JSON: {exc}", "It was not written by mlayer."
        ) from exc
    if not isinstance(doc, dict):
        raise ModelError("The manifest is not a JSON object.", "It was not written by mlayer.")
    if doc.get("schema_version") != SCHEMA_VERSION:
        raise ModelError(
            f"Manifest schema {doc.get('schema_version')!r} is not {SCHEMA_VERSION}.",
            "Upgrade mlayer to read it.",
        )
    missing = [k for k in REQUIRED_KEYS if k not in doc]
    if missing:
        raise ModelError(
            f"The manifest lacks {', '.join(missing)}.", "Publish the model again with mlayer."
        )
    return doc
