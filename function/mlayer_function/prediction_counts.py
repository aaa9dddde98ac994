"""What a function version predicted in one batch, for the rollout's prediction-shift gate (PSI
against the old version): a classifier's records per class, a regressor's per value bin.
Counted as results are prepared for the output sink, emitted as EMF lines.

A regressor's bins are the same for every model and every function version, so an old and a
new version are always counted over the same bins, whatever each was trained on: 8 per octave
of the value's magnitude (edges at +-2^(k/8), each bin about 9% wide), one bin for magnitudes
under 2^-20, one each for infinities and NaN. A bin is named by its edge nearest zero (`0`,
`1`, `1.09051`, `-2`, ...). The rollout merges these fine bins into about ten groups of the old
version's records before PSI is taken (docs/FORMATS.md, "Rollouts")."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Protocol

from . import telemetry

if TYPE_CHECKING:
    from .delivery import Prepared


class _Sink(Protocol):
    """What the counting needs of the output sink (the rest passes through)."""

    def prepare(self, doc: dict[str, Any]) -> Prepared: ...


BINS_PER_OCTAVE = 8
ZERO_BELOW = 2.0**-20  # magnitudes under this count as 0
CLASS_METRIC, CLASS_DIMENSION = "predictions", "prediction"
BIN_METRIC, BIN_DIMENSION = "prediction_bins", "prediction_bin"


def bin_key(value: float) -> str:
    """The fixed bin a regressor's prediction falls in (module docstring)."""
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    magnitude = abs(value)
    if magnitude < ZERO_BELOW:
        return "0"
    top = 1024 * BINS_PER_OCTAVE - 1  # 2^1024 overflows: the largest floats share a bin
    k = min(top, math.floor(BINS_PER_OCTAVE * math.log2(magnitude)))
    edge = 2.0 ** (k / BINS_PER_OCTAVE)
    if edge > magnitude:  # log2's rounding at an exact edge
        k -= 1
        edge = 2.0 ** (k / BINS_PER_OCTAVE)
    return f"{'-' if value < 0 else ''}{edge:.6g}"


def _scalar(prediction: object) -> float | None:
    """A regressor's prediction as one number (a multi-output one: its first output)."""
    if isinstance(prediction, list) and prediction:
        prediction = prediction[0]
    if isinstance(prediction, bool) or not isinstance(prediction, (int, float)):
        return None
    return float(prediction)


class CountingOutput:
    """The output sink, counting each prepared result's class (or value bin) on its way."""

    def __init__(self, sink: _Sink, *, classes: bool = True) -> None:
        self._sink = sink
        self._prepare = sink.prepare
        self.classes = classes
        self.counts: dict[str, int] = {}

    def prepare(self, doc: dict[str, Any]) -> Prepared:
        if self.classes:
            key: str | None = str(doc["prediction"])
        else:
            value = _scalar(doc.get("prediction"))
            key = None if value is None else bin_key(value)
        if key is not None:
            self.counts[key] = self.counts.get(key, 0) + 1
        return self._prepare(doc)

    def take(self) -> dict[str, int]:
        """This batch's counts (and a fresh start for the next one)."""
        counts, self.counts = self.counts, {}
        return counts

    def lines(self, *, namespace: str, timestamp_ms: int, dimensions: dict[str, str]) -> list[str]:
        """This batch's EMF lines (and a fresh count): one per class, or per value bin."""
        counts = self.take()
        if self.classes:
            return telemetry.prediction_lines(
                counts, namespace=namespace, timestamp_ms=timestamp_ms, dimensions=dimensions
            )
        sets = [[*sorted(dimensions), BIN_DIMENSION]]
        return [
            telemetry.emf_line(
                {BIN_METRIC: count},
                namespace=namespace,
                timestamp_ms=timestamp_ms,
                dimensions={**dimensions, BIN_DIMENSION: key},
                dimension_sets=sets,
            )
            for key, count in sorted(counts.items())
        ]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sink, name)
