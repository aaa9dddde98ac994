"""The result of publish-model: ``to_dict`` is its --json contract, ``render`` its text."""

from __future__ import annotations

from dataclasses import dataclass, field

from mlayer.model import manifest as mf
from mlayer.publishing.ephemeral import EphemeralPlan
from mlayer.publishing.models import RelinkOutcome, RelinkPlan
from mlayer.results.relinking import moved_alias, outcome_fields, plan_lines, would_move_alias
from mlayer.results.report import human_bytes


@dataclass(frozen=True)
class PublishResult:
    """What publish-model did. ``to_dict`` is the ``--json`` contract (docs/FORMATS.md)."""

    layer_name: str
    layer_version_arn: str
    version: int | None
    label: str
    content_sha256: str
    reused: bool
    published: bool
    dry_run: bool
    linked: bool
    plan: RelinkPlan | None
    outcome: RelinkOutcome | None
    zip_sha256: str
    zipped_size: int
    unzipped_size: int
    lock_source: str
    warnings: tuple[str, ...] = ()
    manifest: dict = field(default_factory=dict)
    function: str | None = None
    alias: str | None = None
    store: str = "layer"  # where the artifacts live: layer | s3 (model_store.py)
    store_reason: str = ""
    s3_objects: tuple[dict, ...] = ()
    ephemeral: EphemeralPlan | None = None
    format: str = "sklearn"  # sklearn | onnx: what the function serves
    input_reason: str = ""  # why this input kind (mlayer.model.schema.choose_input)
    parity: dict | None = None  # --format onnx: the parity gate's figures (mlayer.onnx.parity)

    @property
    def ephemeral_mb(self) -> int | None:
        """The EphemeralStorage this run sets (or would set) on the function, None: unchanged."""
        return self.ephemeral.size_mb if self.ephemeral and self.linked else None

    @property
    def relinked(self) -> bool:
        """True when this run changed the function's layers."""
        return bool(self.outcome and self.plan is not None and self.plan.changed)

    def to_dict(self) -> dict:
        return {
            "function": self.function if self.linked else None,
            "layer_name": self.layer_name,
            "layer_version_arn": self.layer_version_arn,
            "version": self.version,
            "label": self.label,
            "content_sha256": self.content_sha256,
            "short_sha": mf.short_sha(self.content_sha256),
            "zip_sha256": self.zip_sha256,
            "zipped_size": self.zipped_size,
            "unzipped_size": self.unzipped_size,
            "reused": self.reused,
            "published": self.published,
            "dry_run": self.dry_run,
            "linked": self.linked,
            "relinked": self.relinked,
            "plan": self.plan.to_dict() if self.plan is not None else None,
            **outcome_fields(self.outcome),
            "alias": self.alias if self.linked else None,
            "lock_source": self.lock_source,
            "warnings": list(self.warnings),
            "manifest": self.manifest,
            "store": self.store,
            "store_reason": self.store_reason,
            "s3_objects": list(self.s3_objects),
            "ephemeral_storage": self.ephemeral_mb,
            "format": self.format,
            "input_kind": self.manifest.get("input_kind"),
            "input_reason": self.input_reason,
            "samples_kept": len(self.manifest.get("samples") or []),
            "parity": self.parity,
        }

    def render(self) -> str:
        lines: list[str] = []  # warnings go to stderr (cli.App.emit)
        what = f"{self.layer_name} version {self.version if self.version is not None else '(new)'} ({self.label}, sha:{mf.short_sha(self.content_sha256)})"
        if self.dry_run:
            verb = "Would reuse" if self.reused else "Would publish"
        else:
            verb = "Reused" if self.reused else "Published"
        lines.append(
            f"{verb} {what}: {human_bytes(self.zipped_size)} zipped, {human_bytes(self.unzipped_size)} unzipped."
        )
        if self.format == "onnx":
            lines.append(self._onnx_line())
        if self.store_reason:
            lines.append(self.store_reason)
        lines += [
            f"  s3://{o['bucket']}/{o['key']} ({human_bytes(o['size'])})" for o in self.s3_objects
        ]
        lines += plan_lines(self.plan)
        if self.ephemeral_mb:
            lines.append(
                f"  /tmp (EphemeralStorage): {self.ephemeral.current_mb} MB -> {self.ephemeral_mb} MB "
                "to hold the S3-stored artifacts."
            )
        if self.dry_run:
            if self.alias and self.linked:
                lines.append(would_move_alias(self.alias))
            lines.append("Dry run: nothing was changed.")
        elif self.linked and self.plan is not None and self.plan.changed:
            lines.append(f"Relinked {self.plan.function}.")
        if self.outcome and self.outcome.alias:
            lines.append(moved_alias(self.outcome))
        return "\n".join(lines)

    def _onnx_line(self) -> str:
        p = self.parity or {}
        if not p:
            return "Format: onnx (one graph, served by onnxruntime without scikit-learn)."
        speed = (
            f"; a batch of {p.get('records')} took {p.get('onnx_ms', 0):.1f} ms with onnxruntime "
            f"vs {p.get('sklearn_ms', 0):.1f} ms with scikit-learn ({p.get('ratio')}x"
            + (f", {1 / p['ratio']:.1f} times faster)" if p.get("ratio") else ")")
            if p.get("sklearn_ms")
            else ""
        )
        accepted = ""
        if p.get("parity_tolerance") is not None:  # --parity-tolerance: what the user accepted
            largest = max(p.get("max_proba_diff") or 0, p.get("max_value_diff") or 0)
            accepted = (
                f" Accepted with --parity-tolerance {p['parity_tolerance']:g}: "
                f"{p.get('differing', 0)} records differ ({p.get('label_disagreements', 0)} "
                f"labels), by up to {largest:.3g}."
            )
        return (
            f"Format: onnx: the parity gate passed on {p.get('records')} records "
            f"({p.get('generated', 0)} generated){speed}.{accepted}"
        )
