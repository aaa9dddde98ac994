"""Precompiling the layer with the runtime's own Python, as ``unchecked-hash`` pycs.

/opt is read-only on Lambda: without pycs Python compiles every module at every cold start.
Unchecked-hash pycs are valid whatever timestamps the zip gives the sources (Python never
re-checks them) and hold no timestamp, so the same sources give the same bytes. They are
written as ``__pycache__/<mod>.cpython-3X.pyc``, where that interpreter looks for them, and
name ``/opt/python/...`` as their source so tracebacks on Lambda point at real paths.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlayer.build.runner import Runner
from mlayer.build.target import TargetPython
from mlayer.runtimes import Runtime

LAMBDA_PYTHON_DIR = "/opt/python"
# The compiler's environment over the caller's: a fixed hash seed (python3.10 writes a frozenset
# constant, ``x in {"a", "b"}``, in its hash order: two unseeded runs gave one module two pycs);
# an empty value unsets the rest, which would move the pycs (a prefix), rename them (-O) or drop
# their column table (3.11+). Not -I, which would ignore the seed too.
COMPILE_ENV = {
    "PYTHONHASHSEED": "0",
    "PYTHONPYCACHEPREFIX": "",
    "PYTHONOPTIMIZE": "",
    "PYTHONNODEBUGRANGES": "",
}


@dataclass(frozen=True)
class BytecodeResult:
    status: str  # compiled | skipped | partial
    files: int
    bytes_added: int
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "files": self.files,
            "bytes_added": self.bytes_added,
            "detail": self.detail,
        }


def compile_argv(target: TargetPython, prefix: str = LAMBDA_PYTHON_DIR, jobs: int = 0) -> list[str]:
    """``prefix``: where the tree sits on Lambda (its pycs name their sources there); ``jobs``:
    compileall's workers (0: one per CPU)."""
    return [
        *target.argv,
        "-m",
        "compileall",
        "-q",
        "-j",
        str(jobs),
        "--invalidation-mode",
        "unchecked-hash",
        "-s",
        target.tree,
        "-p",
        prefix,
        target.tree,
    ]


def _pycs(tree: Path, runtime: Runtime) -> list[Path]:
    return sorted(tree.rglob(f"__pycache__/*.{runtime.pyc_tag}.pyc"))


def compile_tree(
    tree: Path,
    target: TargetPython,
    runtime: Runtime,
    runner: Runner,
    *,
    prefix: str = LAMBDA_PYTHON_DIR,
    jobs: int = 0,
) -> BytecodeResult:
    if not target.available:
        return BytecodeResult("skipped", 0, 0, f"skipped: {target.why_not}")
    done = runner(compile_argv(target, prefix, jobs), env=COMPILE_ENV, timeout=1800)
    pycs = _pycs(tree, runtime)
    added = sum(p.stat().st_size for p in pycs)
    if not pycs:
        return BytecodeResult("skipped", 0, 0, f"compileall wrote nothing: {done.tail(3)}")
    if not done.ok:
        # A few files that do not compile (e.g. Python 2 examples) must not cost the rest.
        failed = sum(1 for line in done.stdout.splitlines() if line.startswith("***"))
        return BytecodeResult(
            "partial",
            len(pycs),
            added,
            f"{len(pycs)} pycs; {failed or 'some'} files did not compile",
        )
    return BytecodeResult(
        "compiled",
        len(pycs),
        added,
        f"{len(pycs)} unchecked-hash pycs for {runtime.pyc_tag} by {target.argv[-1]}",
    )
