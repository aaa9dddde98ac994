"""The result of init."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class InitResult:
    path: Path
    overwritten: bool
    settings: dict[str, Any]

    def render(self) -> str:
        verb = "Overwrote" if self.overwritten else "Wrote"
        return (
            f"{verb} {self.path}.\n"
            "Next: `mlayer build-deps --publish`, then `mlayer deploy-function`, "
            "then `mlayer publish-model MODEL -p PREPROCESSOR ...`."
        )
