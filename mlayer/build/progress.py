"""Progress events: the library reports steps through a callback; the CLI decides how to show
them (a bar on a terminal, nothing with --json). The library itself never prints."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    step: str  # resolve | install | verify | slim | compile | zip | cache | upload | publish
    message: str
    done: int | None = None  # units done (bytes, files) when the step is measurable
    total: int | None = None


ProgressCallback = Callable[[Progress], None]


def no_progress(_event: Progress) -> None:
    """The default: nobody is watching."""
