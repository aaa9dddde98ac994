"""The pip builder: a cross-platform install of wheels only, for the runtime's glibc and CPU.

pip picks, for every requirement, the newest wheel whose tags match one of the platforms given,
so it must be given every manylinux tag the runtime accepts. It never builds from source here:
a requirement without a matching wheel needs the docker builder.
"""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from mlayer.build.runner import Completed, Runner
from mlayer.errors import BuildError
from mlayer.runtimes import Runtime, manylinux_tags

_NO_MATCH = re.compile(r"No matching distribution found for ([^\s]+)")
_NO_VERSION = re.compile(r"Could not find a version that satisfies the requirement ([^\s]+)")
_INDEXES = re.compile(r"Looking in indexes: (.+)")
_NETWORK = (
    "Failed to establish a new connection",
    "Connection refused",
    "Temporary failure in name resolution",
    "Name or service not known",
    "Network is unreachable",
    "ConnectTimeoutError",
    "Read timed out",
    "ProxyError",
    "SSLError",
    "Connection interrupted",
    "incomplete-download",
    "Connection reset",
    "RemoteDisconnected",
    "IncompleteRead",
)
# pip retries a request itself and resumes a broken download 5 times; a connection that drops
# more often than that (seen on CI: a 27.8 MB wheel cut at 3.7 MB six times) gets whole new runs,
# which find what already arrived in pip's cache.
PIP_ATTEMPTS = 3


# pip's lines worth showing while it works (it prints no bars when not on a terminal).
_PROGRESS_LINES = ("Collecting", "Downloading", "Processing", "Building", "Installing", "Success")


def pip_progress(show: Callable[[str], None]) -> Callable[[str], None]:
    """An ``on_line`` for the runner that passes pip's download/install steps to ``show``."""

    def on_line(line: str) -> None:
        text = line.strip()
        if text.startswith(_PROGRESS_LINES):
            show(text)

    return on_line


def pip_argv(
    python: str, requirements: Path, target: Path, runtime: Runtime, arch: str
) -> list[str]:
    argv = [
        python,
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--no-compile",
        "--target",
        str(target),
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        runtime.python_version,
        "--abi",
        runtime.python_tag,
        "--abi",
        "abi3",
        "--abi",
        "none",
    ]
    for tag in manylinux_tags(runtime, arch):
        argv += ["--platform", tag]
    argv += ["-r", str(requirements)]
    return argv


def lost_network(done: Completed) -> bool:
    """pip failed because the index or its files could not be reached or read to the end."""
    out = done.stdout + "\n" + done.stderr
    return any(marker in out for marker in _NETWORK)


def explain_pip_failure(done: Completed, runtime: Runtime, arch: str) -> BuildError:
    """Turn pip's output into an error that says which package and what to do."""
    out = done.stdout + "\n" + done.stderr
    missing = _NO_MATCH.search(out) or _NO_VERSION.search(out)
    if lost_network(done):
        return BuildError(
            "pip could not reach the package index: " + done.tail(2).replace("\n", " "),
            "Check the network, a proxy (HTTPS_PROXY) or PIP_INDEX_URL, then run again.",
        )
    if missing:
        name = missing.group(1).strip("'\"")
        if "(from versions: none)" in out:
            where = _INDEXES.search(out)
            hint_more = (
                " pip saw no release of it at all: check the name, and that the index "
                f"(PIP_INDEX_URL{'; pip looked in ' + where.group(1) if where else ''}) "
                "is reachable."
            )
        else:
            hint_more = ""
        return BuildError(
            f"No wheel of {name} exists for {runtime.name} on {arch} "
            f"(glibc {runtime.glibc[0]}.{runtime.glibc[1]}, {runtime.python_tag}).",
            "Pin a version that publishes manylinux wheels for this runtime, or build with "
            "--builder docker (compiles from source inside the Lambda build image)." + hint_more,
        )
    return BuildError(f"pip install failed:\n{done.tail(12)}", "See pip's output above.")


def install_with_pip(
    requirements: Path,
    target: Path,
    runtime: Runtime,
    arch: str,
    runner: Runner,
    python: str = sys.executable,
    on_line: Callable[[str], None] | None = None,
) -> None:
    """pip's install into ``target``, run again (into an emptied target) when the network failed."""
    argv = pip_argv(python, requirements, target, runtime, arch)
    for attempt in range(1, PIP_ATTEMPTS + 1):
        done = runner(argv, timeout=3600, on_line=on_line)
        if done.ok:
            return
        if not lost_network(done) or attempt == PIP_ATTEMPTS:
            raise explain_pip_failure(done, runtime, arch)
        if on_line is not None:
            on_line(
                f"Downloading again: pip lost the network (attempt {attempt + 1} of {PIP_ATTEMPTS})"
            )
        _empty(target)


def _empty(folder: Path) -> None:
    for child in folder.iterdir() if folder.is_dir() else ():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
