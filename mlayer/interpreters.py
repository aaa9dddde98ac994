"""Finding a Lambda runtime's own Python on this machine: python3.X on PATH first, then pyenv's.

Lambda runs a function under exactly its runtime's minor version; running it (or smoke-testing
a layer, or compiling its bytecode) under another one would hide import errors and pickle
incompatibilities, so a mismatch is refused, never bridged. A candidate counts only once it
has run and reported the version: a pyenv shim on PATH exists even when that version is not
installed, and then fails.

Running a candidate is a side effect, so the probe is injected (``mlayer.build.runner.
probe_version`` is the real one); this module only looks at the file system.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from mlayer.errors import LocalRuntimeError
from mlayer.runtimes import get_runtime

# an executable -> the "3.X" it printed, or None when it did not run.
Probe = Callable[[str], "str | None"]


def candidates(version: str, path: str | None = None, pyenv_root: Path | None = None) -> list[str]:
    """Where a ``python3.X`` may be, in the order tried: PATH first, then pyenv's versions."""
    found: list[str] = []
    on_path = shutil.which(f"python{version}", path=path)
    if on_path:
        found.append(on_path)
    root = pyenv_root or Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    versions = root / "versions"
    dirs = [*versions.glob(f"{version}.*"), *versions.glob(f"{version}-*")]
    for d in sorted(dirs, reverse=True):
        exe = d / "bin" / f"python{version}"
        if exe.is_file() and str(exe) not in found:
            found.append(str(exe))
    return found


def find_python(
    version: str,
    probe: Probe,
    *,
    path: str | None = None,
    pyenv_root: Path | None = None,
) -> tuple[str | None, list[str]]:
    """The first candidate that runs and is ``version`` (``"3.12"``), or None; and what was tried."""
    tried: list[str] = []
    for exe in candidates(version, path, pyenv_root):
        got = probe(exe)
        if got == version:
            return exe, tried
        tried.append(f"{exe} ({'reports ' + got if got else 'does not run'})")
    return None, tried


_FOUND: dict[tuple[str, tuple[str, ...], Probe], str | None] = {}


def find_python_once(version: str, probe: Probe) -> str | None:
    """find_python's interpreter, kept for the process while the candidates stay the same:
    each probe starts an interpreter (a pyenv shim: a dozen shell processes), and a deploy or
    an alias's poll would ask again for every code zip or container."""
    key = (version, tuple(candidates(version)), probe)
    if key not in _FOUND:
        _FOUND[key] = find_python(version, probe)[0]
    return _FOUND[key]


def require_python(
    runtime: str,
    purpose: str,
    probe: Probe,
    *,
    path: str | None = None,
    pyenv_root: Path | None = None,
) -> str:
    """The interpreter for a Lambda runtime (``python3.12``), or a LocalRuntimeError saying what
    to install. ``purpose`` ends the hint: why no other version will do."""
    version = get_runtime(runtime).python_version
    exe, tried = find_python(version, probe, path=path, pyenv_root=pyenv_root)
    if exe is not None:
        return exe
    where = f" Tried: {'; '.join(tried)}." if tried else ""
    raise LocalRuntimeError(
        f"The function's runtime is {runtime}, but no working python{version} was found on PATH or under pyenv.{where}",
        f"Install Python {version} (e.g. `pyenv install {version}`) so that python{version} runs; "
        f"{purpose}.",
    )
