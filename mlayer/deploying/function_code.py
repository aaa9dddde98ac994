"""The function's code zip: the ``mlayer_function`` package, deterministic (fixed times, modes),
with its bytecode for the function's runtime when that runtime's Python is here (code_bytecode)."""

from __future__ import annotations

import hashlib
import stat
from dataclasses import dataclass
from pathlib import Path

from mlayer.build.runner import Runner, run_subprocess
from mlayer.deploying.code_bytecode import compile_function
from mlayer.deploying.deploy_plan import PACKAGE
from mlayer.errors import UsageError
from mlayer.model.packaging import sha256_bytes, write_zip
from mlayer.shipped import shipped_path


def function_code_dir() -> Path:
    """The folder holding the ``mlayer_function`` package: the one place that says where it is.

    From a source tree (``pip install -e .``) it is ``function/`` beside ``mlayer/``; an install
    that ships the package elsewhere changes only this function.
    """
    return shipped_path("function")


def function_sources(root: Path | None = None) -> list[tuple[str, Path]]:
    """The zip entries: ``mlayer_function/*.py`` (no caches, no tests, no dependencies).

    A package, so nothing of ours sits at the top of Lambda's sys.path (/var/task comes before
    the layers' /opt/python): a user's ``--code batch.py`` is never shadowed by our modules.
    """
    root = root or function_code_dir()
    package = root / PACKAGE
    if not package.is_dir():
        raise UsageError(
            f"The function's code is not at {package}.",
            "Run mlayer from its source tree (pip install -e .), where function/ sits beside mlayer/.",
        )
    files = sorted((f"{PACKAGE}/{p.name}", p) for p in package.glob("*.py") if p.is_file())
    for required in ("__init__.py", "handler.py"):
        if not any(name == f"{PACKAGE}/{required}" for name, _ in files):
            raise UsageError(
                f"{package} has no {required}.", f"Restore function/{PACKAGE}/{required}."
            )
    return files


@dataclass(frozen=True)
class CodeZip:
    data: bytes
    sha256: str  # hex; what Lambda's CodeSha256 says of the same bytes (in base64)
    note: str  # "" when the zip holds every module's pyc; else why it does not (a note, no error)


# This process's code zips by what goes in them: a zip is the same bytes for the same entries,
# so a process that deploys again (the demo, a test walk) compresses each one once.
_ZIPS: dict[str, bytes] = {}


def _entries_key(entries: list[tuple[str, Path | bytes]]) -> str:
    """The sha256 of every entry's name, mode bit and content (what write_zip makes them into)."""
    digest = hashlib.sha256()
    for name, src in sorted(entries, key=lambda e: e[0]):
        data = src if isinstance(src, bytes) else src.read_bytes()
        executable = not isinstance(src, bytes) and bool(src.stat().st_mode & stat.S_IXUSR)
        for part in (name.encode(), b"x" if executable else b"-", data):
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
    return digest.hexdigest()


def code_zip(
    dest: Path, runtime: str, root: Path | None = None, runner: Runner = run_subprocess
) -> CodeZip:
    """The zip deploy-function ships: the sources and, as ``__pycache__/*.cpython-3X.pyc``,
    their bytecode for ``runtime`` (sources only, and a note, where its Python is missing)."""
    sources = function_sources(root)
    bytecode = compile_function(sources, runtime, runner)
    entries: list[tuple[str, Path | bytes]] = [*sources, *bytecode.pycs]
    key = _entries_key(entries)
    data = _ZIPS.get(key)
    if data is None:
        data = write_zip(dest, entries).path.read_bytes()
        _ZIPS[key] = data
    else:
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
    return CodeZip(data, sha256_bytes(data), bytecode.note)


def build_code_zip(
    dest: Path, root: Path | None = None, runtime: str | None = None
) -> tuple[bytes, str]:
    """The deterministic code zip and its hex sha256: with ``runtime``, as deploy-function
    ships it (code_zip); without, the sources only."""
    if runtime is not None:
        built = code_zip(dest, runtime, root)
        return built.data, built.sha256
    info = write_zip(dest, function_sources(root))
    data = info.path.read_bytes()
    return data, sha256_bytes(data)
