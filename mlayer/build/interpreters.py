"""Finding the runtime's own Python on this machine (PATH, then pyenv) for smoke tests and pycs.

A pyenv shim on PATH exists even when that version is not selected and then fails, so a candidate
counts only once it has run and reported the expected version.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from mlayer.build.runner import Runner, run_subprocess


def candidates(version: str, home: Path | None = None) -> list[str]:
    """Places a ``python3.X`` may be, most specific first (pyenv builds before PATH shims)."""
    home = home or Path(os.path.expanduser("~"))
    root = Path(os.environ.get("PYENV_ROOT", home / ".pyenv"))
    found: list[str] = []
    versions = root / "versions"
    if versions.is_dir():
        for d in sorted(versions.glob(f"{version}.*"), reverse=True):
            exe = d / "bin" / f"python{version}"
            if exe.exists():
                found.append(str(exe))
    on_path = shutil.which(f"python{version}")
    if on_path:
        found.append(on_path)
    return found


def find_python(
    version: str, runner: Runner = run_subprocess, home: Path | None = None
) -> str | None:
    """An interpreter that runs and is ``version`` (e.g. ``"3.12"``), or None."""
    for exe in candidates(version, home):
        probe = runner([exe, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], timeout=30)
        if probe.ok and probe.stdout.strip() == version:
            return exe
    return None
