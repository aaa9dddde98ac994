"""What Lambda's /var/runtime gives a function: boto3 and the runtime interface client.

The emulation installs them once per Python version, with THAT interpreter's pip into a private
directory (``pip --target``), so the function never sees the caller's site-packages and gets
wheels built for its own Python. Cached under MLAYER_CACHE_DIR (default ~/.cache/mlayer).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from mlayer.errors import LocalRuntimeError

# awslambdaric is pinned: the Runtime API server is tested against this client.
RUNTIME_PACKAGES = ("awslambdaric==4.2.2", "boto3")
_MARKER = ".mlayer-runtime-complete"


def cache_root() -> Path:
    return Path(
        os.environ.get("MLAYER_CACHE_DIR") or Path.home() / ".cache" / "mlayer"
    ).expanduser()


def runtime_dir(
    python_exe: str, python_version: str, root: Path | None = None, timeout: float = 600
) -> Path:
    """The runtime directory for ``python_version``, installed on first use (safe across processes)."""
    base = (root or cache_root()) / "runtime"
    target = base / f"python{python_version}"
    if (target / _MARKER).is_file():
        return target
    base.mkdir(parents=True, exist_ok=True)
    with open(base / f"python{python_version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another test worker may be installing the same one
        if (target / _MARKER).is_file():
            return target
        staging = Path(tempfile.mkdtemp(prefix=f"python{python_version}-", dir=base))
        argv = [
            python_exe,
            "-I",
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-warn-script-location",
            "--target",
            str(staging),
            *RUNTIME_PACKAGES,
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_USER"))}
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=timeout, env=env, check=False
            )
        except subprocess.TimeoutExpired:
            shutil.rmtree(staging, ignore_errors=True)
            raise LocalRuntimeError(
                f"Installing the local Lambda runtime for Python {python_version} took over {timeout:.0f}s.",
                "Check the network to PyPI (or a pip index in PIP_INDEX_URL) and try again.",
            ) from None
        if done.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])
            raise LocalRuntimeError(
                f"Could not install {' '.join(RUNTIME_PACKAGES)} for Python {python_version} with {python_exe}:\n{tail}",
                f"Make sure `{python_exe} -m pip` works and PyPI is reachable.",
            )
        (staging / _MARKER).write_text(" ".join(RUNTIME_PACKAGES) + "\n")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
        return target
