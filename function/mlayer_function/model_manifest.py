"""Read the model layer's manifest and verify each file it lists, before anything is loaded.

Both loaders (modelstore's scikit-learn one, onnx_model's) start here, so neither imports the
other. The manifest (docs/FORMATS.md) is read as JSON; mlayer is never imported. Paths are
os.path strings: pathlib (with urllib.parse and ipaddress) costs a cold start milliseconds.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import TYPE_CHECKING, Any

from .decoding import INPUT_KINDS

if TYPE_CHECKING:
    from .serving import PathText

SUPPORTED_SCHEMA = 1


class ModelIntegrityError(Exception):
    """The model on disk is missing, unreadable or differs from its manifest."""


def sha256_of(path: PathText) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(model_dir: PathText) -> dict[str, Any]:
    path = os.path.join(model_dir, "manifest.json")
    try:
        with open(path, encoding="utf-8") as fh:
            manifest = json.loads(fh.read())
    except FileNotFoundError:
        raise ModelIntegrityError(
            f"no model manifest at {path}: is the model layer attached (mlayer publish-model)?"
        ) from None
    except (OSError, ValueError) as exc:
        raise ModelIntegrityError(f"unreadable model manifest {path}: {exc}") from None
    if not isinstance(manifest, dict):
        raise ModelIntegrityError(f"model manifest {path} is not a JSON object")
    schema = manifest.get("schema_version")
    if schema != SUPPORTED_SCHEMA:
        raise ModelIntegrityError(
            f"model manifest schema_version {schema!r}: this function reads {SUPPORTED_SCHEMA}"
        )
    for key in ("model_version", "input_kind", "artifacts", "outputs"):
        if key not in manifest:
            raise ModelIntegrityError(f"model manifest {path} has no {key!r}")
    if manifest["input_kind"] not in INPUT_KINDS:
        raise ModelIntegrityError(
            f"model manifest input_kind {manifest['input_kind']!r}: expected one of {INPUT_KINDS}"
        )
    if not manifest["artifacts"]:
        raise ModelIntegrityError(f"model manifest {path} lists no artifacts")
    return manifest


def verify_file(path: PathText, expected_sha256: str, expected_size: int | None) -> None:
    """Raise unless the file is byte for byte the one the manifest describes."""
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        raise ModelIntegrityError(f"{path} is listed in the manifest but missing") from None
    if expected_size is not None and size != expected_size:
        raise ModelIntegrityError(
            f"{path}: size {size} differs from the manifest's {expected_size}; "
            "refusing to serve a model that is not the published one"
        )
    actual = sha256_of(path)
    if actual != expected_sha256:
        raise ModelIntegrityError(
            f"{path}: sha256 {actual[:12]}… differs from the manifest's "
            f"{str(expected_sha256)[:12]}…; refusing to serve a model that is not the published one"
        )
