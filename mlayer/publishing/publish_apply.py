"""publish-model's writes, in the order that never leaves the function half-changed.

Only writes happen here, after ``confirm``; every decision was made by publish_plan.py from one
read. The order, and why:
1. the artifact bucket, then the default label ``v<N>`` claimed for this content (labels.py): the
   label is inside the zip, so it is settled before anything is uploaded. When the claim gives
   another label (a concurrent publish took it), the zip is built again with it and the relink
   re-planned from the same read.
2. ``--store s3``: the artifacts to ``models/<sha256>`` (only what a HEAD does not find), before
   any layer names them.
3. the zip (unless the same bytes are there) and its manifest to ``layers/<zip sha256>``: what
   status, history and rollback read back.
4. the layer version, landed on its label's number (labels.land_on_label); another number
   (someone published meanwhile) re-plans the relink for the version we got.
5. the relink last (relink.py: the function's RevisionId, then the alias): until then nothing
   the function runs has changed.
Steps 1-3 are keyed by content, so running the same command again reuses them. A failure there
raises ``PublishIncompleteError``: the stage reached, the state left, the command that completes
it. From step 4 on, a failure names the version published but not linked, and how to link it;
the relinker's own ``RelinkedError`` names a function left apart from its alias.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlayer.arns import LayerVersionArn
from mlayer.errors import AwsError, IncompleteError, MlayerError
from mlayer.gateway import Gateway
from mlayer.gateway.views import LayerVersion
from mlayer.model import manifest as mf
from mlayer.model.layer_content import LayerContent
from mlayer.model.packaging import ZipInfo, write_zip
from mlayer.publishing import labels, model_store
from mlayer.publishing.models import LayerSize, RelinkOutcome, RelinkPlan
from mlayer.publishing.publish_plan import LinkPlan, PublishPlan, relink_for, relink_needed
from mlayer.publishing.publish_read import ModelFiles
from mlayer.publishing.publish_types import LiveState
from mlayer.publishing.relink import LinkSettings, RelinkedError, Relinker
from mlayer.publishing.resolved import ResolvedPublish
from mlayer.publishing.store import manifest_key, zip_key

# Failures after which a write may have been applied: the request went out, the answer did not.
LOST_ANSWER = {"ReadTimeoutError", "ConnectionClosedError", "ResponseStreamingError"}

# stage reached -> the state a failure of the next step leaves (what the user is told).
STATES = {
    "nothing": "Nothing was changed: {function} and layer {layer} are exactly as they were.",
    "label": (
        "Only label {label} is claimed for this content in s3://{bucket} (the next run gets it "
        "back); {function} and layer {layer} are as they were."
    ),
    "objects": (
        "The artifacts are in s3://{bucket}/models/ (the next run finds them); layer {layer} "
        "has no new version and {function} is as it was."
    ),
    "zip": (
        "The layer zip and its manifest are in s3://{bucket}/layers/ (the next run reuses "
        "them); layer {layer} has no new version and {function} is as it was."
    ),
}
RERUN = (
    "Run the same `mlayer publish-model` again: it reuses what this run wrote (label, objects "
    "and zip are keyed by content) and does only the rest."
)


class PublishIncompleteError(IncompleteError):
    """publish-model stopped before its layer version was published: ``stage`` names what was
    written (``STATES``); the function and the layer are as they were."""


def stopped(
    exc: MlayerError, step: str, stage: str, facts: dict[str, str]
) -> PublishIncompleteError:
    """The error of a failed step: its cause, the state left, and how to finish."""
    code = getattr(exc, "code", "") or type(exc).__name__
    state = STATES[stage].format(**facts)
    if code in LOST_ANSWER:
        state = f"Its answer was lost, so AWS may have applied that call. {state}"
    hint = f"{exc.hint} Then run" + RERUN[3:] if exc.hint else RERUN
    cause = exc.message.rstrip(". ")
    return PublishIncompleteError(
        f"publish-model stopped while {step}: {cause}. {state}", hint, code, stage
    )


def unlinked(exc: AwsError, layer: str, version: int | None, label: str) -> AwsError:
    """A relink that failed after the version was published: say what exists and how to link it."""
    return type(exc)(
        f"{layer} version {version} ({label}) was published but NOT linked: {exc.message}",
        f"`mlayer rollback --version {version}` links it once you know what changed the "
        f"function (another publish-model or rollback?). {exc.hint}".strip(),
        exc.code,
    )


def in_zip(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest as the zip holds it: without ``created_at``, so that the zip's bytes depend
    only on what is published (an interrupted publish builds the same zip and reuses it). The
    time is kept in the bucket's copy (layers/<zip sha256>.manifest.json)."""
    return {k: v for k, v in manifest.items() if k not in ("created_at", "zip_sha256")}


def model_zip(dest: Path, content: LayerContent, manifest: dict[str, Any], store: str) -> ZipInfo:
    """The layer zip (a local file): the manifest, the artifacts (store "layer" only), the code."""
    entries: list[tuple[str, Path | bytes]] = [
        ("mlayer/manifest.json", mf.to_json(in_zip(manifest)))
    ]
    if store == "layer":
        entries += list(content.files)
    entries += content.code_entries
    return write_zip(dest, entries)


@dataclass(frozen=True)
class Applied:
    """What the writes produced: the version linked, its manifest, zip and the relink's outcome."""

    target: str
    manifest: dict[str, Any]
    zip: ZipInfo | None
    relink: RelinkPlan | None
    outcome: RelinkOutcome | None
    notes: tuple[str, ...] = ()


def _upload_zip(gw: Gateway, bucket: str, info: ZipInfo, manifest: dict[str, Any]) -> None:
    if gw.object_size(bucket, zip_key(info.sha256)) != info.zipped_size:
        gw.upload_file(str(info.path), bucket, zip_key(info.sha256))
    gw.put_bytes(
        bucket, manifest_key(info.sha256), mf.to_json(manifest), content_type="application/json"
    )


class _Publishing:
    """One publish's writes: what they produced so far, and the stage reached (for a failure)."""

    def __init__(
        self,
        gw: Gateway,
        req: ResolvedPublish,
        live: LiveState,
        plan: PublishPlan,
        link: LinkPlan,
        zipped: ZipInfo | None,
    ) -> None:
        self.gw, self.req, self.live, self.plan = gw, req, live, plan
        self.manifest, self.info, self.target = plan.manifest, zipped, plan.target
        self.relink, self.tmp = link.relink, link.ephemeral
        self.notes: list[str] = []
        self.stage = "nothing"
        self.facts = {"function": req.function, "layer": req.layer, "bucket": req.bucket}
        self.facts["label"] = plan.label

    def step(self, what: str, action: Callable[[], Any]) -> Any:
        try:
            return action()
        except MlayerError as exc:
            raise stopped(exc, what, self.stage, self.facts) from exc

    def replan(self) -> None:
        """The relink for the target and zip we have now, from the same read (pure)."""
        function = self.live.function
        if self.relink is not None and function is not None and self.info is not None:
            size = LayerSize(self.info.unzipped_size)
            self.relink = relink_for(self.req, function, self.live, self.target, size)

    def claim(self, content: LayerContent) -> None:
        """1. The bucket, then v<N> claimed: no concurrent publish gets the same one."""
        req, plan, info = self.req, self.plan, self.info
        self.step("creating the artifact bucket", lambda: self.gw.ensure_bucket(req.bucket))
        if not plan.claim or info is None:
            return
        sha, created = self.manifest["content_sha256"], self.manifest["created_at"]
        label = self.step(
            f"claiming label {plan.label}",
            lambda: labels.claim_label(
                self.gw,
                req.bucket,
                req.layer,
                plan.first_free,
                sha,
                created,
                taken=self.live.labels_taken,
            ),
        )
        self.stage, self.facts["label"] = "label", label
        if label != self.manifest["model_version"]:  # the zip holds the label: built again
            self.manifest = {**self.manifest, "model_version": label}
            self.info = model_zip(info.path, content, self.manifest, plan.store.store)
            self.replan()

    def objects(self, files: ModelFiles, workdir: Path) -> None:
        """2. --store s3: the artifacts (HEAD first: only what is missing), before any layer."""
        bucket = self.req.bucket
        uploads = model_store.plan_uploads(files.pipeline.artifacts, files.pipeline.judged(workdir))
        self.step("creating the artifact bucket", lambda: self.gw.ensure_bucket(bucket))
        self.step(
            "uploading the artifacts to S3", lambda: model_store.upload(self.gw, bucket, uploads)
        )
        self.stage = "objects"

    def version(self, info: ZipInfo) -> None:
        """3-4. The zip and its manifest, then the layer version, landed on its label."""
        req, sha = self.req, self.manifest["content_sha256"]
        self.manifest = {**self.manifest, "zip_sha256": info.sha256}
        manifest = self.manifest
        self.step(
            "uploading the layer zip and its manifest",
            lambda: _upload_zip(self.gw, req.bucket, info, manifest),
        )
        self.stage = "zip"
        label = str(manifest["model_version"])
        description, where = mf.layer_description(label, sha), (req.bucket, zip_key(info.sha256))

        def publish_zip() -> LayerVersion:
            return self.gw.new_layer_version(req.layer, description, s3=where)

        made = self.step("publishing the layer version", publish_zip)
        try:
            if self.plan.claim:  # v<N> is version N, or a warning says why not
                made, more = labels.land_on_label(self.gw, req.layer, label, made, publish_zip)
                self.notes += more
        except AwsError as exc:
            number = LayerVersionArn.parse(made.arn).version
            raise unlinked(exc, req.layer, number, label) from exc
        if made.arn != self.target:  # someone published meanwhile: plan for ours
            self.target = made.arn
            self.replan()

    def link(self) -> RelinkOutcome | None:
        """5. The relink, last; a failure after a new version names it, unlinked."""
        relink, tmp, alias = self.relink, self.tmp, self.req.alias
        if relink is None or not relink_needed(relink, alias, tmp):
            return None
        try:
            settings = LinkSettings(tmp_mb=tmp.size_mb if tmp else None)
            # A version published by this run: no function version carries it yet.
            fresh = self.info is not None
            return Relinker(self.gw).apply(relink, alias=alias, settings=settings, fresh=fresh)
        except AwsError as exc:
            if self.info is None or isinstance(exc, RelinkedError):  # it names its own state
                raise
            version = LayerVersionArn.parse(self.target).version
            label = str(self.manifest["model_version"])
            raise unlinked(exc, self.req.layer, version, label) from exc


def apply_publish(
    gw: Gateway,
    req: ResolvedPublish,
    live: LiveState,
    plan: PublishPlan,
    link: LinkPlan,
    zipped: ZipInfo | None,
    *,
    files: ModelFiles,
    workdir: Path,
) -> Applied:
    """The writes in the module's order; ``zipped`` is the zip built for the plan (None: reuse)."""
    run = _Publishing(gw, req, live, plan, link, zipped)
    if zipped is not None:
        run.claim(files.content)
    if plan.store.store == "s3":
        run.objects(files, workdir)
    if run.info is not None:
        run.version(run.info)
    outcome = run.link()
    return Applied(run.target, run.manifest, run.info, run.relink, outcome, tuple(run.notes))
