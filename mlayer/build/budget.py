"""Lambda's 250 MB unzipped limit, shared by the function code and all its layers (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlayer.errors import BudgetError
from mlayer.runtimes import MAX_UNZIPPED_BYTES

MB = 1024 * 1024


@dataclass(frozen=True)
class Budget:
    unzipped: int
    zipped: int
    limit: int
    largest: tuple[tuple[str, int], ...]  # the ten largest packages, biggest first

    @property
    def room_left(self) -> int:
        """Bytes left under the limit for the function's code and the model layer."""
        return self.limit - self.unzipped

    @property
    def fits(self) -> bool:
        return self.unzipped <= self.limit

    def to_dict(self) -> dict[str, Any]:
        return {
            "unzipped": self.unzipped,
            "zipped": self.zipped,
            "limit": self.limit,
            "room_left": self.room_left,
            "fits": self.fits,
            "largest": [{"package": n, "bytes": b} for n, b in self.largest],
        }


def make_budget(
    unzipped: int, zipped: int, package_sizes: dict[str, int], limit: int = MAX_UNZIPPED_BYTES
) -> Budget:
    largest = sorted(package_sizes.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    return Budget(unzipped, zipped, limit, tuple(largest))


def to_drop(budget: Budget) -> list[str]:
    """The fewest largest packages whose removal would bring the layer under the limit."""
    over = budget.unzipped - budget.limit
    names: list[str] = []
    for name, size in budget.largest:
        if over <= 0:
            break
        names.append(name)
        over -= size
    return names


def check_budget(budget: Budget) -> None:
    """Refuse a layer that cannot fit, naming what to drop."""
    if budget.fits:
        return
    drop = to_drop(budget)
    raise BudgetError(
        f"The layer is {budget.unzipped / MB:.1f} MB unzipped, over Lambda's "
        f"{budget.limit / MB:.1f} MB limit by {-budget.room_left / MB:.1f} MB.",
        f"Drop {' and '.join(drop) or 'some packages'} from the requirements (largest: "
        + ", ".join(f"{n} {b / MB:.1f} MB" for n, b in budget.largest[:5])
        + "), or ship them in a separate layer or a container image.",
    )
