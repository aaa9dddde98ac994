"""Run every benchmarks/bench_*.py (or those named on the command line) and summarise."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import time
from pathlib import Path


def discover() -> list[str]:
    here = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))


def main(argv: list[str]) -> int:
    names = argv or discover()
    failed = []
    for name in names:
        module_name = name if name.startswith("bench_") else f"bench_{name}"
        print(f"\n=== {module_name} ===", flush=True)
        started = time.perf_counter()
        # each in a fresh interpreter: a module one benchmark imported (the function's handler,
        # with the model its cold start loaded) must not be the next one's
        code = subprocess.run(
            [sys.executable, "-c", CHILD, module_name], cwd=Path(__file__).parents[1]
        ).returncode
        print(
            f"--- {module_name}: {'ok' if not code else 'FAILED'} in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        if code:
            failed.append(module_name)
    print(f"\n{len(names) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


CHILD = """
import importlib, sys
sys.exit(importlib.import_module(f"benchmarks.{sys.argv[1]}").main())
"""


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
