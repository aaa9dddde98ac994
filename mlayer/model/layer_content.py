"""What a model-layer version ships, per format: the pickles as they are, or one ONNX graph.

Decided from the inspected pipeline and the ``--sample`` records before any AWS call, so a
conversion or parity refusal publishes nothing. The notes say what publish-model's user should
know about the input kind it chose and the self-check it could (or could not) set up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlayer.errors import UsageError
from mlayer.model import samples as sample_io
from mlayer.model.artifacts import CodeFile, Pipeline
from mlayer.onnx.support import FORMATS
from mlayer.publishing.models import LayerArtifact
from mlayer.request_types import PublishRequest

ONNX_SAMPLE_LIMIT = 100_000  # records the parity gate reads from --sample at most


@dataclass(frozen=True)
class LayerContent:
    """The files, samples and manifest keys of one model-layer version."""

    format: str
    artifacts: tuple[LayerArtifact, ...]
    files: tuple[tuple[str, Path | bytes], ...]  # zip entries beside the manifest (mlayer/...)
    code: tuple[CodeFile, ...]  # --code modules (python/...); none for ONNX
    samples: tuple[dict, ...]
    manifest_fields: dict = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    onnx: Any = None  # mlayer.onnx.publishing.OnnxPublish for --format onnx

    @property
    def code_entries(self) -> list[tuple[str, Path | bytes]]:
        return [(c.file, c.path) for c in self.code]

    @property
    def code_manifest(self) -> list[dict]:
        return [{"file": c.file, "sha256": c.sha256, "size": c.size} for c in self.code]

    @property
    def parity(self) -> dict | None:
        """The ONNX gate's figures (records, timings, ratio, largest differences), or None."""
        return self.onnx.parity.to_json() if self.onnx is not None else None


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise UsageError(f"Unknown model format {fmt!r}.", f"Use one of {', '.join(FORMATS)}.")
    return fmt


def sample_notes(pipeline: Pipeline, sample: object, auto: bool) -> list[str]:
    """Why this input kind (when mlayer chose it), and the self-check's coverage."""
    notes = [f"Input kind {pipeline.input_reason}"] if auto and pipeline.input_reason else []
    notes += pipeline.schema_notes
    if sample is None:
        notes.append(
            "No --sample: the model is published unchecked (the function cannot verify at cold "
            "start that it predicts as here). Pass --sample FILE with JSON lines of records."
            + (
                " A table model's boolean and datetime columns are told by them too: without, "
                "they are typed as numbers."
                if pipeline.input_kind == "table"
                else ""
            )
        )
    elif pipeline.samples_dropped:
        notes.append(
            f"--sample held {len(pipeline.samples) + pipeline.samples_dropped} records: only the "
            f"first {len(pipeline.samples)} are kept in the manifest for the self-check."
        )
    return notes


def sklearn_content(pipeline: Pipeline, notes: Sequence[str] = ()) -> LayerContent:
    sources = pipeline.blobs or pipeline.paths  # the bytes that were hashed and scanned
    files = tuple((f"mlayer/{a.file}", p) for a, p in zip(pipeline.artifacts, sources, strict=True))
    return LayerContent(
        format="sklearn",
        artifacts=pipeline.artifacts,
        files=files,
        code=pipeline.code,
        samples=pipeline.samples,
        notes=tuple(notes),
    )


def onnx_content(
    pipeline: Pipeline,
    sample: str | Path | None,
    runtime: str,
    notes: Sequence[str] = (),
    parity_tolerance: float | None = None,
) -> LayerContent:
    """Convert and gate (mlayer.onnx.publishing): refusals raise before anything is published."""
    if sample is None:
        raise UsageError(
            "--format onnx needs --sample FILE (at least 100 records, or fewer plus generated "
            "ones): publish-model checks the ONNX graph against scikit-learn on them.",
            "Pass --sample with JSON lines of input records, or publish with --format sklearn.",
        )
    from mlayer.onnx.publishing import prepare_onnx
    from mlayer.onnx.support import require_onnx_runtime

    require_onnx_runtime(runtime)
    records, _ = sample_io.read_samples(sample, limit=ONNX_SAMPLE_LIMIT)
    onnx = prepare_onnx(
        pipeline.loaded,
        pipeline.input_kind,
        records,
        runtime=runtime,
        input_schema=pipeline.input_schema,
        with_proba=bool(pipeline.outputs["predict_proba"]),
        parity_tolerance=parity_tolerance,
    )
    notes = [n for n in notes if "only the first" not in n]  # the gate reads them all
    return LayerContent(
        format="onnx",
        artifacts=(onnx.artifact,),
        files=tuple(onnx.zip_entries()),
        code=(),
        samples=tuple(onnx.samples),
        manifest_fields=onnx.manifest_fields(),
        notes=tuple(notes),
        onnx=onnx,
    )


def layer_content(
    pipeline: Pipeline, fmt: str, request: PublishRequest, runtime: str, auto_input: bool
) -> LayerContent:
    """The layer's files: the pickles, or the gated ONNX graph (--sample, --parity-tolerance)."""
    sample, parity_tolerance = request.sample, request.parity_tolerance
    notes = sample_notes(pipeline, sample, auto_input)
    if check_format(fmt) == "onnx":
        return onnx_content(pipeline, sample, runtime, notes, parity_tolerance)
    if parity_tolerance is not None:
        raise UsageError(
            "--parity-tolerance applies to --format onnx only (the sklearn format serves the "
            "pickles themselves: there is nothing to compare).",
            "Drop --parity-tolerance, or publish with --format onnx.",
        )
    return sklearn_content(pipeline, notes)
