"""What boolean and datetime table columns cost the function's per-record path.

Three schemas, the same 100-record batch (check every column of every record, then one
DataFrame): the numeric/string table of bench_tabular (4 columns), the same plus a boolean
column, the same plus a datetime column. The datetime column's added time per batch is set
against its floor, pandas reading the same 100 strings at once (``pd.to_datetime(...,
format="ISO8601")``, which checks nothing per record and names no column). Target: within 3x
of that floor, the ratio being the median of side-by-side rounds. The numeric path itself is the same code as before the new kinds (judged by an
A/B run in docs/BENCHMARKS.md, not here).

Run: ``.venv/bin/python -m benchmarks bench_column_kinds``.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BATCH, ROUNDS, CALLS = 100, 51, 10
TARGET = 3.0
BASE = [
    {"name": "age", "kind": "number", "nullable": True},
    {"name": "income", "kind": "number", "nullable": True},
    {"name": "city", "kind": "string", "nullable": True},
    {"name": "plan", "kind": "string", "nullable": True},
]
FLAG = {"name": "active", "kind": "boolean", "nullable": True}
WHEN = {"name": "signup", "kind": "datetime", "nullable": True, "unit": "us", "timezone": None}


def records() -> list[dict]:
    return [
        {
            "id": f"r{i}",
            "age": 20 + i % 60,
            "income": 30.5 + i,
            "city": ["paris", "rome", "oslo"][i % 3],
            "plan": "gold" if i % 7 else "free",
            "active": i % 2 == 0,
            "signup": f"20{10 + i % 15}-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:07",
        }
        for i in range(BATCH)
    ]


def one_round_us(call) -> float:
    """The mean of CALLS calls (µs)."""
    started = time.perf_counter()
    for _ in range(CALLS):
        call()
    return (time.perf_counter() - started) / CALLS * 1e6


def main() -> int:
    sys.path.insert(0, str(REPO / "function"))
    import pandas as pd
    from mlayer_function.tabular import TableSchema

    batch = records()
    texts = [r["signup"] for r in batch]
    calls = {"floor": lambda: pd.to_datetime(texts, format="ISO8601")}
    for name, columns in (
        ("base", BASE),
        ("+boolean", [*BASE, FLAG]),
        ("+datetime", [*BASE, WHEN]),
    ):
        table = TableSchema.from_manifest({"columns": columns})
        calls[name] = lambda t=table: t.frame([t.row(r) for r in batch])
    rounds: dict[str, list[float]] = {name: [] for name in calls}
    for call in calls.values():
        call()  # warm
    for _ in range(ROUNDS):  # side by side, so a busy moment weighs on all of them alike
        for name, call in calls.items():
            rounds[name].append(one_round_us(call))
    median = {name: statistics.median(times) for name, times in rounds.items()}
    added_bool = statistics.median(
        b - a for a, b in zip(rounds["base"], rounds["+boolean"], strict=True)
    )
    added = [d - b for b, d in zip(rounds["base"], rounds["+datetime"], strict=True)]
    ratio = statistics.median(a / f for a, f in zip(added, rounds["floor"], strict=True))
    for name in ("base", "+boolean", "+datetime"):
        print(
            f"{name:10} {median[name]:8.1f} µs per batch of {BATCH} (rows checked + one DataFrame)"
        )
    print(f"boolean column adds {added_bool:.1f} µs per batch (median of side-by-side pairs)")
    print(
        f"datetime column adds {statistics.median(added):.1f} µs per batch; pandas reads the "
        f"{BATCH} strings in {median['floor']:.1f} µs: {ratio:.2f}x (target ≤ {TARGET}x)"
    )
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
