"""The shadow's share of an emulated invocation: the candidate's predict time, read from the
function's own EMF lines (function/mlayer_function/shadow_metrics.py), against the invocations'
duration, and what that share of the cost estimate is. Pure."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ShadowShare:
    shadow_predict_ms: float  # the candidate's predicts, all invocations
    live_predict_ms: float  # the live model's predicts in the same batches
    duration_ms: float  # the invocations' durations
    records: int  # records the candidate compared
    usd_per_million: float  # its share of the cost estimate, per million invocations

    @property
    def share(self) -> float:
        return self.shadow_predict_ms / self.duration_ms if self.duration_ms else 0.0

    def line(self) -> str:
        return (
            f"Shadow: {self.shadow_predict_ms:.2f} ms of candidate predicts for {self.records} "
            f"records (live {self.live_predict_ms:.2f} ms), {self.share:.1%} of the duration: "
            f"${self.usd_per_million:.2f} of the estimate per million invocations"
        )

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "share": self.share}


def _emf_docs(logs: Iterable[str]) -> Iterable[dict[str, Any]]:
    for line in logs:
        text = line.strip()
        if text.startswith("{") and "shadow_predict_ms" in text:
            try:
                doc = json.loads(text)
            except ValueError:
                continue
            if isinstance(doc, dict):
                yield doc


def shadow_share(
    logs: Iterable[str], duration_ms: float, per_million_usd: float
) -> ShadowShare | None:
    """None when no batch was compared (no shadow, or it was disabled or not sampled)."""
    shadow = live = 0.0
    records = 0
    for doc in _emf_docs(logs):
        shadow += float(doc.get("shadow_predict_ms") or 0)
        live += float(doc.get("live_predict_ms") or 0)
        records += int(doc.get("shadow_records") or 0)
    if not shadow:
        return None
    share = shadow / duration_ms if duration_ms else 0.0
    return ShadowShare(shadow, live, duration_ms, records, per_million_usd * min(1.0, share))
