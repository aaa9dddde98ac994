"""Publishing a built layer: zip and lock into the artifact bucket, then a layer version.

The zip always goes to ``layers/<sha256>.zip`` (SSE AES256) whatever its size: the local
emulation fetches layers from there. The version is always published from that S3 object (one
path for every size; the API's direct upload stops at 50 MB anyway). A zip whose sha256 is
already the latest version's ``CodeSha256`` is not published again.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlayer.build.budget import check_budget
from mlayer.build.layer import LayerBuild
from mlayer.build.progress import Progress, ProgressCallback, no_progress
from mlayer.publishing.store import lock_key, zip_key
from mlayer.results.report import human_bytes


@dataclass(frozen=True)
class Published:
    layer_name: str
    layer_arn: str
    version: int
    bucket: str
    zip_key: str
    lock_key: str
    published: bool  # False: the latest version already holds this zip
    method: str  # "s3"
    code_sha256: str


def code_sha256(sha256_hex: str) -> str:
    """Lambda's CodeSha256: base64 of the digest (not of the hex string)."""
    return base64.b64encode(bytes.fromhex(sha256_hex)).decode()


def description(build: LayerBuild) -> str:
    """Enough to tell versions apart from ``list-layer-versions`` alone (256 chars max)."""
    return (
        f"mlayer deps {build.runtime} {build.arch} {build.builder} "
        f"requirements sha256:{build.requirements_sha256[:16]} zip sha256:{build.zip_sha256[:16]}"
    )


def publish_layer(
    build: LayerBuild,
    gateway: Any,
    bucket: str,
    name: str,
    progress: ProgressCallback = no_progress,
    confirm: Callable[[str], None] = lambda _question: None,
) -> Published:
    """The zip and its lock stored by sha256, then a new layer version, unless the latest one
    already holds these bytes: that one is given back unchanged (nothing asked, nothing made)."""
    check_budget(build.budget)
    sha = build.zip_sha256
    latest = gateway.latest_layer_version(name)
    same = latest is not None and latest.code_sha256 == sha
    if not same:
        confirm(
            f"Publish {build.zip_path.name} ({human_bytes(build.budget.zipped)} zipped) "
            f"as a new version of layer {name}?"
        )
    key, lkey = _store(build, gateway, bucket, progress)
    if latest is not None and same:
        return Published(
            name, latest.arn, latest.version, bucket, key, lkey, False, "s3", code_sha256(sha)
        )
    progress(Progress("publish", f"publishing layer {name} from s3://{bucket}/{key}"))
    made = gateway.new_layer_version(
        name,
        description(build),
        s3=(bucket, key),
        runtimes=[build.runtime],
        architectures=[build.arch],
    )
    made_sha = code_sha256(made.code_sha256) if made.code_sha256 else ""
    return Published(name, made.arn, made.version, bucket, key, lkey, True, "s3", made_sha)


def _store(
    build: LayerBuild, gateway: Any, bucket: str, progress: ProgressCallback
) -> tuple[str, str]:
    """(zip key, lock key): the zip uploaded unless the bucket holds it at its size already,
    and its lock written beside it."""
    key, lkey = zip_key(build.zip_sha256), lock_key(build.zip_sha256)
    progress(Progress("upload", f"storing the zip in s3://{bucket}/{key}"))
    gateway.ensure_bucket(bucket)
    if gateway.object_size(bucket, key) != build.budget.zipped:
        _upload(build, gateway, bucket, key, progress)
    gateway.put_json(bucket, lkey, build.lock())
    return key, lkey


def _upload(
    build: LayerBuild, gateway: Any, bucket: str, key: str, progress: ProgressCallback
) -> None:
    total = build.budget.zipped
    sent = [0]

    def on_bytes(n: int) -> None:
        sent[0] += n
        progress(Progress("upload", f"uploading {key}", sent[0], total))

    gateway.upload_file(str(build.zip_path), bucket, key, callback=on_bytes)
