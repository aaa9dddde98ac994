"""Does a candidate fit beside the live model? Pure: sizes in, a refusal naming them out.

In /tmp the container holds the live model's S3-stored artifacts, the candidate's layer zip
while it is unpacked, the unpacked layer and the candidate's own S3-stored artifacts; in
memory, both models loaded (ephemeral.py's rule for one model, half the memory, applied to both).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mlayer.errors import BudgetError, UsageError
from mlayer.gateway.views import FunctionConfig
from mlayer.publishing import ephemeral

MIB = 1024 * 1024


def _mb(n: int) -> str:
    return f"{n / MIB:.1f} MB"


@dataclass(frozen=True)
class Fit:
    tmp_bytes: int  # what /tmp must hold for both models
    tmp_mb: int  # that with ephemeral.py's margin
    ephemeral_mb: int  # the function's /tmp
    memory_bytes: int  # both models' artifacts
    memory_mb: int  # the function's memory

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def check_fit(
    live: Mapping,
    candidate: Mapping,
    zipped: int,
    unzipped: int,
    config: FunctionConfig | None,
) -> Fit:
    """The sizes, or BudgetError when the candidate does not fit beside the live model."""
    live_tmp, cand_tmp = ephemeral.s3_bytes(live), ephemeral.s3_bytes(candidate)
    tmp = live_tmp + cand_tmp + zipped + unzipped
    memory = ephemeral.artifact_bytes(live) + ephemeral.artifact_bytes(candidate)
    fit = Fit(
        tmp,
        ephemeral.required_mb(tmp),
        ephemeral.tmp_or_default(config.tmp_mb if config else None),
        memory,
        (config.memory if config else None) or 128,
    )
    if fit.tmp_mb > fit.ephemeral_mb:
        raise BudgetError(
            f"The candidate does not fit beside the live model in /tmp: the live model's S3 "
            f"artifacts {_mb(live_tmp)}, the candidate's layer {_mb(zipped)} zipped and "
            f"{_mb(unzipped)} unpacked, its S3 artifacts {_mb(cand_tmp)}: {fit.tmp_mb} MB with "
            f"the margin, and the function has {fit.ephemeral_mb} MB. Nothing was published.",
            "Raise the function's ephemeral storage (a relink to an S3-stored model sets it), or "
            "shadow a smaller candidate.",
        )
    if memory * 2 > fit.memory_mb * MIB:
        raise BudgetError(
            f"The candidate does not fit beside the live model in memory: their artifacts are "
            f"{_mb(ephemeral.artifact_bytes(live))} and {_mb(ephemeral.artifact_bytes(candidate))}"
            f", {_mb(memory)} together, over half of the function's {fit.memory_mb} MB. "
            "Nothing was published.",
            "Raise [function] memory and run `mlayer deploy-function`, or shadow a smaller "
            "candidate.",
        )
    return fit


def check_same_input(live: Mapping, candidate: Mapping) -> None:
    """The candidate must read the records the live model reads (the function decodes once)."""
    keys = ("input_kind", "n_features", "input_schema")
    differ = [k for k in keys if live.get(k) != candidate.get(k)]
    if differ:
        shown = ", ".join(f"{k} {candidate.get(k)!r} (live: {live.get(k)!r})" for k in differ)
        raise UsageError(
            f"The candidate reads other records than the live model: {shown}. Nothing was "
            "published.",
            "Shadow a candidate of the same input (--input), or publish it with --rollout.",
        )
    if candidate.get("code"):
        raise UsageError(
            "A shadow cannot ship --code modules: they would be imported beside the live "
            "model's. Nothing was published.",
            "Publish it without --code (or with --rollout).",
        )
