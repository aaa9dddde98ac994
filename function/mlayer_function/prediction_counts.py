"""How many records a classifier predicted per class in one batch, for the rollout's
prediction-shift gate (PSI against the old version): counted as results are prepared for the
output sink, emitted as EMF lines by telemetry.prediction_lines."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .batch import OutputSink
    from .delivery import Prepared


class CountingOutput:
    """The output sink, counting each prepared result's class on its way through."""

    def __init__(self, sink: OutputSink) -> None:
        self._sink = sink
        self._prepare = sink.prepare
        self.counts: dict[str, int] = {}

    def prepare(self, doc: dict[str, Any]) -> Prepared:
        label = str(doc["prediction"])
        self.counts[label] = self.counts.get(label, 0) + 1
        return self._prepare(doc)

    def take(self) -> dict[str, int]:
        """This batch's counts (and a fresh start for the next one)."""
        counts, self.counts = self.counts, {}
        return counts

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sink, name)
