"""A function deployed through the CLI once per module, as the emulated CLI tests share it (file
scoring, shadow, hostile records, the S3 model): the real dependencies layer published from the
artifact bucket, the mlayer.toml that names it, and the CLI pointed at that AWS and folder."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

from mlayer.gateway import Gateway

REPO = Path(__file__).resolve().parent.parent
RUNTIME = "python{}.{}".format(*sys.version_info[:2])


def use(mp, local, work: Path) -> None:
    """The CLI on the embedded AWS ``local``, run from ``work`` (where mlayer.toml is), with the
    repository's layer build cache unless MLAYER_CACHE_DIR names another."""
    for key, value in local.env.items():
        mp.setenv(key, value)
    mp.setenv(
        "MLAYER_CACHE_DIR", os.environ.get("MLAYER_CACHE_DIR") or str(REPO / ".cache" / "mlayer")
    )
    mp.chdir(work)


def gateway(local) -> Gateway:
    return Gateway(region=local.region, endpoint_url=local.endpoint_url)


def publish_real_deps(gw: Gateway, bucket: str, layer: str, build) -> str:
    """The real dependencies layer (a BuildResult) and its lock in ``bucket`` under layers/<sha>,
    published as ``layer`` from there, as build-deps --publish leaves them: its version ARN."""
    gw.ensure_bucket(bucket)
    data = build.zip_path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    gw.put_bytes(bucket, f"layers/{sha}.zip", data)
    gw.put_json(bucket, f"layers/{sha}.lock.json", build.lock())
    version = gw.publish_layer_version(layer, "deps", s3=(bucket, f"layers/{sha}.zip"))
    return str(version["LayerVersionArn"])


def function_toml(name: str, role: str, build, bucket: str, *, layers: bool = True) -> str:
    """mlayer.toml's [function] (this Python's runtime, the layer's architecture, 1024 MB, 60 s),
    with [deps]/[model] layers named after the function unless ``layers`` is False, and
    [artifacts]; a test appends its [trigger] and [output]."""
    text = (
        f'[function]\nname = "{name}"\nrole = "{role}"\nruntime = "{RUNTIME}"\n'
        f'architecture = "{build.arch}"\nmemory = 1024\ntimeout = 60\n'
    )
    if layers:
        text += f'[deps]\nlayer = "{name}-deps"\n[model]\nlayer = "{name}-model"\n'
    return text + f'[artifacts]\nbucket = "{bucket}"\n'


def text_model_args(paths: dict[str, Path], *extra: str) -> list[str]:
    """``publish-model`` of publish_support.train_text_pipeline's three files, text input."""
    return [
        "publish-model", str(paths["model"]),
        "-p", str(paths["countvectorizer"]), "-p", str(paths["tfidf"]),
        "--input", "text", "--yes", *extra,
    ]  # fmt: skip
