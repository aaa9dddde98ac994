"""What a dependencies-layer build is asked: the recipe, the runtime and CPU, the builder, the options.

One frozen value, built by build-deps (and the benchmarks and tests), read by layer.py (the
cache key, the result) and stages.py (what each stage does).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlayer.runtimes import MAX_UNZIPPED_BYTES


@dataclass(frozen=True)
class BuildRequest:
    requirements: Path
    runtime: str = "python3.12"
    arch: str = "x86_64"
    builder: str = "auto"
    output: Path = Path("build")
    slim: bool = True
    compile: bool = True
    force: bool = False
    cache_dir: Path | None = None
    budget_bytes: int = MAX_UNZIPPED_BYTES
    allow_missing_libs: tuple[str, ...] = ()  # sonames the user vouches Lambda will find
