"""The runtime's own Python for the emulation: python3.X on PATH, else pyenv's build.

Lambda runs a function under exactly its runtime's minor version; running it under another one
would hide import errors and pickle incompatibilities, so a mismatch is refused, never bridged.
A candidate counts only once it has run and reported the version (pyenv shims on PATH exist
even when that version is not installed, and then fail).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from mlayer.errors import LocalRuntimeError
from mlayer.runtimes import get_runtime

# argv -> the "3.X" it printed, or None when it did not run.
Probe = Callable[[str], "str | None"]


def probe_version(exe: str) -> str | None:
    """Run ``exe`` and return the ``major.minor`` it reports (None if it does not run)."""
    try:
        out = subprocess.run(
            [exe, "-I", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def candidates(version: str, path: str | None = None, pyenv_root: Path | None = None) -> list[str]:
    """Where a ``python3.X`` may be, in the order tried: PATH first, then pyenv's versions."""
    found: list[str] = []
    on_path = shutil.which(f"python{version}", path=path)
    if on_path:
        found.append(on_path)
    root = pyenv_root or Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    for d in sorted((root / "versions").glob(f"{version}*"), reverse=True):
        exe = d / "bin" / f"python{version}"
        if exe.is_file() and str(exe) not in found:
            found.append(str(exe))
    return found


def find_interpreter(
    runtime: str,
    *,
    path: str | None = None,
    pyenv_root: Path | None = None,
    probe: Probe = probe_version,
) -> str:
    """The interpreter for a Lambda runtime (``python3.12``), or a LocalRuntimeError saying what to install."""
    version = get_runtime(runtime).python_version
    tried: list[str] = []
    for exe in candidates(version, path, pyenv_root):
        got = probe(exe)
        if got == version:
            return exe
        tried.append(f"{exe} ({'reports ' + got if got else 'does not run'})")
    where = f" Tried: {'; '.join(tried)}." if tried else ""
    raise LocalRuntimeError(
        f"The function's runtime is {runtime}, but no working python{version} was found on PATH or under pyenv.{where}",
        f"Install Python {version} (e.g. `pyenv install {version}`) so that python{version} runs; "
        "the emulation never runs a function under another Python version.",
    )
