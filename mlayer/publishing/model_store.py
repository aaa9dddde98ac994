"""Where a model version's bytes live: in its layer, or in S3 behind a manifest-only layer.

Lambda counts the function's code and every layer against one 250 MB (unzipped) budget, and
the dependencies layer takes most of it. ``choose_store`` keeps a model in its layer when the
planner says it fits, else (``--store auto``) puts each artifact in the artifact bucket under
``models/<sha256>`` and lets the layer carry only the manifest, whose artifacts then say
``"store": "s3"`` with their bucket, key, sha256 and size (docs/FORMATS.md). A model version is
still one layer version, so history, rollback and re-publishing work the same for both stores.

Objects are content-addressed: the same artifact is uploaded once (a HEAD first) and shared by
every version that uses it; nothing here deletes one, since a rollback may need it again.
Decisions are pure; uploads and the IAM question go through the Gateway.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlayer.errors import BudgetError, UsageError
from mlayer.results.report import human_bytes
from mlayer.runtimes import MAX_UNZIPPED_BYTES

if TYPE_CHECKING:  # the gateway is passed in: importing it would load boto3 (the plan imports this)
    from mlayer.gateway import Gateway

STORES = ("auto", "layer", "s3")
MODELS_PREFIX = "models/"
GET_OBJECT = "s3:GetObject"
MIB = 1024 * 1024


def s3_key(sha256: str) -> str:
    """The artifact bucket key of an S3-stored artifact: by content, shared across versions."""
    return f"{MODELS_PREFIX}{sha256}"


def _mb(n: int) -> str:
    return human_bytes(n)


@dataclass(frozen=True)
class StoreChoice:
    """The store a publish uses, and the sentence that says why (shown by publish-model)."""

    store: str  # "layer" | "s3"
    requested: str  # "auto" | "layer" | "s3"
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"store": self.store, "requested": self.requested, "reason": self.reason}


def check_store(requested: str | None) -> str:
    value = (requested or "auto").strip().lower()
    if value not in STORES:
        raise UsageError(
            f"--store {requested!r} is not one of {', '.join(STORES)}.",
            "auto keeps the model in its layer when it fits, else in S3.",
        )
    return value


def layer_form_size(
    manifest_json: bytes, artifact_sizes: Sequence[int], code_sizes: Sequence[int] = ()
) -> int:
    """Unzipped bytes of a model layer: what Lambda's budget counts (the sum of its entries)."""
    return len(manifest_json) + sum(artifact_sizes) + sum(code_sizes)


def standalone_fit(size: int) -> int:
    """With --no-link there is no function to plan against: the layer must fit on its own.

    Returns the room left, or raises BudgetError as the planner would."""
    if size > MAX_UNZIPPED_BYTES:
        raise BudgetError(
            f"The model layer would be {_mb(size)} unzipped; Lambda allows {_mb(MAX_UNZIPPED_BYTES)} "
            "for a function's code and all its layers.",
            "Use --store s3 (or auto) to keep the artifacts in S3.",
        )
    return MAX_UNZIPPED_BYTES - size


def choose_store(
    requested: str,
    *,
    layer_size: int,
    s3_size: int,
    room_left: Callable[[int], int],
    where: str = "S3",
) -> StoreChoice:
    """Pick the store. ``room_left(size)`` plans a model layer of ``size`` unzipped bytes with
    the planner (the one budget rule) and returns the budget left, or raises BudgetError.

    ``layer``: the layer, or the planner's refusal (before any zip is built).
    ``s3``: S3 always. ``auto``: the layer when it fits, else S3 when the manifest-only layer
    fits; when neither fits, the layer's refusal (S3 would not help: too many layers, or the
    other layers alone are over the budget).
    """
    requested = check_store(requested)
    if requested == "layer":
        try:
            left = room_left(layer_size)
        except BudgetError as refusal:
            raise BudgetError(
                refusal.message,
                f"{refusal.hint} Or keep the artifacts in S3: --store s3 (or auto).",
            ) from None
        return StoreChoice(
            "layer",
            requested,
            f"--store layer: the model ({_mb(layer_size)}) goes in its layer ({_mb(left)} left).",
        )
    if requested == "s3":
        return StoreChoice(
            "s3",
            requested,
            f"--store s3: the artifacts go to {where}; the layer holds the manifest ({_mb(s3_size)}).",
        )
    try:
        left = room_left(layer_size)
    except BudgetError as refusal:
        try:
            left_s3 = room_left(s3_size)
        except BudgetError:
            raise refusal from None
        room = left_s3 + s3_size
        return StoreChoice(
            "s3",
            requested,
            f"The model ({_mb(layer_size)}) does not fit in the function's remaining layer budget "
            f"({_mb(room)} of {_mb(MAX_UNZIPPED_BYTES)}): its artifacts go to {where} and the "
            f"layer holds only the manifest.",
        )
    return StoreChoice(
        "layer",
        requested,
        f"The model ({_mb(layer_size)}) fits in its layer ({_mb(left)} of the budget left).",
    )


@dataclass(frozen=True)
class S3Artifact:
    """One artifact on its way to (or already in) ``s3://<bucket>/models/<sha256>``."""

    file: str
    path: Path
    sha256: str
    size: int
    key: str


def plan_uploads(artifacts: Sequence[Any], paths: Sequence[str | Path]) -> tuple[S3Artifact, ...]:
    """The pipeline's artifacts (``LayerArtifact``s: file, sha256, size) as S3 objects, in order."""
    return tuple(
        S3Artifact(a.file, Path(p), a.sha256, int(a.size), s3_key(a.sha256))
        for a, p in zip(artifacts, paths, strict=True)
    )


def to_s3_form(manifest: Mapping[str, Any], bucket: str) -> dict[str, Any]:
    """The manifest whose artifacts live in S3: each gains ``store``, ``bucket`` and ``s3_key``.

    The content identity (``content_sha256``, over the artifacts' sha256) does not change: the
    same model in either store is the same content.
    """
    doc = dict(manifest)
    doc["artifacts"] = [
        {**a, "store": "s3", "bucket": bucket, "s3_key": s3_key(a["sha256"])}
        for a in manifest.get("artifacts") or []
    ]
    return doc


def upload(
    gw: Gateway,
    bucket: str,
    items: Sequence[S3Artifact],
    progress: Callable[[str], None] | None = None,
) -> tuple[list[str], list[str]]:
    """Upload what is not there yet (HEAD first). Returns (uploaded keys, reused keys).

    An object of the right key but another size is a broken earlier upload: written again.
    """
    uploaded, reused = [], []
    for item in items:
        if gw.object_size(bucket, item.key) == item.size:
            reused.append(item.key)
            continue
        if progress:
            progress(f"Uploading {item.file} ({_mb(item.size)}) to s3://{bucket}/{item.key}")
        gw.upload_file(str(item.path), bucket, item.key)
        uploaded.append(item.key)
    return uploaded, reused


@dataclass(frozen=True)
class Placement:
    """Where a version's artifacts live, for status and history."""

    store: str  # "layer" | "s3" | "mixed" | "unknown"
    s3_objects: tuple[
        dict[str, Any], ...
    ]  # {"bucket", "key", "sha256", "size"} per S3-stored artifact

    @property
    def s3_bytes(self) -> int:
        return sum(o["size"] for o in self.s3_objects)

    @property
    def resources(self) -> list[str]:
        """The IAM resource ARNs the execution role must be allowed s3:GetObject on."""
        return [f"arn:aws:s3:::{o['bucket']}/{o['key']}" for o in self.s3_objects]

    def to_dict(self) -> dict[str, Any]:
        return {"store": self.store, "s3_objects": list(self.s3_objects), "s3_bytes": self.s3_bytes}


def placement(manifest: Mapping[str, Any] | None) -> Placement:
    """Read a manifest's store: ``unknown`` when there is none (not published by mlayer)."""
    if not manifest:
        return Placement("unknown", ())
    arts = manifest.get("artifacts") or []
    objects = tuple(
        {
            "bucket": a.get("bucket"),
            "key": a.get("s3_key"),
            "sha256": a.get("sha256"),
            "size": int(a.get("size") or 0),
        }
        for a in arts
        if a.get("store") == "s3"
    )
    store = "layer" if not objects else "s3" if len(objects) == len(arts) else "mixed"
    return Placement(store, objects)


def missing_objects(gw: Gateway, place: Placement) -> list[str]:
    """The S3 objects a version needs that are absent (or of another size): s3:// URIs."""
    return [
        f"s3://{o['bucket']}/{o['key']}"
        for o in place.s3_objects
        if gw.object_size(o["bucket"], o["key"]) != o["size"]
    ]


def role_can_read(gw: Gateway, role_arn: str | None, resources: Sequence[str]) -> str:
    """ "yes", "no" or "unknown": may the role s3:GetObject every resource (IAM's simulator)?

    The embedded AWS has no simulator, and a caller may lack iam:SimulatePrincipalPolicy: both
    are "unknown", never a guess.
    """
    if not role_arn or not resources:
        return "unknown" if resources else "yes"
    try:
        results = gw.simulate_principal_policy(role_arn, [GET_OBJECT], list(resources))
    except Exception:  # AwsError, or a 500 botocore cannot parse (moto has no simulator)
        return "unknown"
    if not results:
        return "unknown"
    return "yes" if all(r == "allowed" for r in results) else "no"
