"""Everything publish-model needs for ``--format onnx``, decided before anything reaches AWS.

One call: refuse a runtime that cannot load onnxruntime, convert the loaded pipeline, run the
parity gate on the ``--sample`` records, and hand back the model layer's ONNX artifact, the
manifest keys and the samples the cold-start self-check replays (what the graph serves, not
what scikit-learn predicted: the function checks itself against its own format).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mlayer.onnx.both_sides import ONNX_FILE
from mlayer.onnx.convert import ConvertedModel, convert_pipeline
from mlayer.onnx.estimators import class_name, final_estimator
from mlayer.onnx.parity import ParityReport, check_parity
from mlayer.onnx.samples import MIN_RECORDS
from mlayer.onnx.support import min_onnxruntime, require_onnx_runtime
from mlayer.publishing.models import LayerArtifact

KEPT_SAMPLES = 20  # as many as the sklearn format keeps in the manifest


@dataclass(frozen=True)
class OnnxPublish:
    converted: ConvertedModel
    parity: ParityReport
    artifact: LayerArtifact
    samples: tuple[dict, ...]

    @property
    def onnx_bytes(self) -> bytes:
        return self.converted.onnx_bytes

    def zip_entries(self) -> list[tuple[str, bytes]]:
        """The model layer's files besides the manifest (no pickle ships)."""
        return [(f"mlayer/{ONNX_FILE}", self.converted.onnx_bytes)]

    def manifest_fields(self) -> dict:
        """Keys to merge into the manifest (docs/FORMATS.md): ``format`` and ``onnx``."""
        block = self.converted.manifest_block()
        block["min_onnxruntime"] = min_onnxruntime(
            self.converted.opsets
        ) or self.converted.versions.get("onnxruntime")
        block["parity"] = self.parity.to_json()
        block["parity_tolerance"] = self.parity.accepted_tolerance  # null: the default gate
        return {"format": "onnx", "onnx": block}


def prepare_onnx(
    loaded: Sequence[Any],
    input_kind: str,
    records: Sequence[dict],
    *,
    runtime: str,
    input_schema: Any = None,
    with_proba: bool | None = None,
    minimum: int = MIN_RECORDS,
    parity_tolerance: float | None = None,
) -> OnnxPublish:
    """Convert and gate; raises OnnxUnavailableError, OnnxConversionError or OnnxParityError."""
    require_onnx_runtime(runtime)
    columns = input_schema if input_kind == "table" else ()
    converted = convert_pipeline(loaded, input_kind, columns=columns, with_proba=with_proba)
    report = check_parity(
        loaded, converted, records, columns=columns, minimum=minimum, tolerance=parity_tolerance
    )
    data = converted.onnx_bytes
    artifact = LayerArtifact(
        file=ONNX_FILE,
        role="model",
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        cls=class_name(final_estimator(loaded[-1])),
        sklearn_version=None,  # nothing pickled: the lock's scikit-learn does not matter
    )
    return OnnxPublish(converted, report, artifact, tuple(report.samples[:KEPT_SAMPLES]))
