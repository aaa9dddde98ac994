"""What the pure core is handed, as protocols: the output and dead-letter sinks, the clock, the model.

batch.py (the stream), direct.py and file_scoring.py take these as arguments and never build
them, so every path runs in tests with in-memory fakes; the handler wires the real ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from .delivery import Delivery, Prepared


class OutputSink(Protocol):
    name: str

    def prepare(self, doc: dict[str, Any]) -> Prepared:
        """One result in the sink's wire form; raises for this result alone (e.g. TooBig)."""

    def send(self, items: Sequence[Prepared]) -> Delivery: ...


class DeadLetterSink(Protocol):
    def write(self, docs: Sequence[dict[str, Any]]) -> Delivery: ...


class Clock(Protocol):
    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...


class Predictor(Protocol):
    version: str

    def predict(self, rows: list[Any]) -> tuple[list[Any], list[dict[str, Any]] | None]: ...
