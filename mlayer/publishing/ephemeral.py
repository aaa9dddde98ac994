"""Size the function's /tmp (EphemeralStorage) and check its memory for an S3-stored model.

A model kept in S3 is downloaded into /tmp at cold start, so /tmp must hold every S3-stored
artifact plus room for what the function itself writes there. Lambda allows 512 to 10,240 MB
(MiB, as its console and API count them). The memory must hold the unpickled model too: a
model over half the function's memory usually leaves too little for the runtime and a batch.
Pure: the relinker and deploy-function pass the manifest and the current configuration in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlayer.errors import BudgetError
from mlayer.gateway.views import FunctionConfig

MIB = 1024 * 1024
MIN_MB = 512
MAX_MB = 10_240
MARGIN_MB = 64  # the function's own use of /tmp (sinks' buffers, temp files)
MARGIN_RATIO = 0.10  # and a tenth of the artifacts: a half-written file beside a stale one


def s3_bytes(manifest: Mapping[str, Any] | None) -> int:
    """Bytes of the manifest's artifacts that live in S3 (what lands in /tmp)."""
    return sum(
        int(a.get("size") or 0)
        for a in (manifest or {}).get("artifacts") or []
        if a.get("store") == "s3"
    )


def artifact_bytes(manifest: Mapping[str, Any] | None) -> int:
    """Bytes of every artifact of the pipeline (what the function's memory holds, about)."""
    return sum(int(a.get("size") or 0) for a in (manifest or {}).get("artifacts") or [])


def required_mb(s3_size: int) -> int:
    """The /tmp size that fits ``s3_size`` bytes of artifacts with the margin (no clamping)."""
    if s3_size <= 0:
        return MIN_MB
    need = s3_size * (1 + MARGIN_RATIO) + MARGIN_MB * MIB
    return max(MIN_MB, -(-int(need) // MIB))


@dataclass(frozen=True)
class EphemeralPlan:
    """What /tmp must be for a model: ``size_mb`` to set, or None to leave the function's as is."""

    s3_bytes: int
    required_mb: int
    current_mb: int
    size_mb: int | None

    @property
    def changes(self) -> bool:
        return self.size_mb is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "s3_bytes": self.s3_bytes,
            "required_mb": self.required_mb,
            "current_mb": self.current_mb,
            "size_mb": self.size_mb,
        }


def tmp_or_default(tmp_mb: int | None) -> int:
    """The function's /tmp (Lambda's default 512 when the configuration omits it)."""
    return tmp_mb or MIN_MB


def current_mb(config: Mapping[str, Any] | None) -> int:
    """tmp_or_default of GetFunctionConfiguration's answer (publish-model and rollback's form)."""
    return tmp_or_default(FunctionConfig.parse(config).tmp_mb if config else None)


def plan_ephemeral(
    manifest: Mapping[str, Any] | None,
    config: Mapping[str, Any] | None,
    *,
    function: str = "the function",
) -> EphemeralPlan:
    """plan_tmp of GetFunctionConfiguration's answer (publish-model and rollback's form)."""
    return plan_tmp(manifest, current_mb(config), function=function)


def plan_tmp(
    manifest: Mapping[str, Any] | None,
    tmp_mb: int | None,
    *,
    function: str = "the function",
) -> EphemeralPlan:
    """Grow /tmp to fit the model's S3 artifacts; never shrink what someone set on purpose.

    Raises BudgetError when the artifacts cannot fit even in Lambda's largest /tmp.
    """
    size = s3_bytes(manifest)
    need = required_mb(size)
    have = tmp_or_default(tmp_mb)
    if need > MAX_MB:
        raise BudgetError(
            f"The model's S3-stored artifacts are {size / MIB:.1f} MB; with the margin "
            f"{function} needs {need} MB of /tmp, and Lambda allows at most {MAX_MB} MB "
            "of ephemeral storage.",
            "Make the model smaller (fewer or shallower trees, float32 thresholds), or split it.",
        )
    return EphemeralPlan(size, need, have, need if need > have else None)


def memory_warning(manifest: Mapping[str, Any] | None, memory_mb: int | None) -> str | None:
    """A sentence when the artifacts exceed half the function's memory, else None."""
    if not memory_mb:
        return None
    size = artifact_bytes(manifest)
    if size * 2 <= memory_mb * MIB:
        return None
    suggested = min(MAX_MB, -(-(size * 3) // MIB // 64) * 64)
    return (
        f"The model's artifacts are {size / MIB:.1f} MB, over half of the function's "
        f"{memory_mb} MB of memory: loading it may run out of memory. Raise [function] memory "
        f"(e.g. to {max(suggested, memory_mb)} MB) and run `mlayer deploy-function`."
    )
