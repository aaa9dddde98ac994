"""The function's modules as pycs for its runtime, compiled by that runtime's own Python.

/var/task is read-only on Lambda: without pycs in the code zip every cold start compiles the
function's modules (~18 ms of CPU, docs/BENCHMARKS.md). They are compiled as build-deps
compiles a layer (build/bytecode.py): unchecked-hash pycs, which hold no timestamp (the same
sources give the same bytes, so an unchanged function keeps its CodeSha256) and which Python
never checks against the sources, naming ``/var/task/...`` as their sources. One worker, in
file order (~40 small files), under compile_tree's fixed hash seed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from mlayer.build.bytecode import compile_tree
from mlayer.build.cache import default_cache_dir
from mlayer.build.runner import Runner, probe_version, run_subprocess
from mlayer.build.target import TargetPython
from mlayer.interpreters import find_python, find_python_once
from mlayer.runtimes import Runtime, get_runtime

TASK_DIR = "/var/task"  # where Lambda unpacks the code zip


@dataclass(frozen=True)
class FunctionBytecode:
    pycs: tuple[tuple[str, bytes], ...]  # (zip entry name, pyc bytes), one per compiled module
    note: str  # "" when every module has its pyc; else what ships without and why


def pyc_name(source: str, runtime: Runtime) -> str:
    """``mlayer_function/__pycache__/handler.cpython-312.pyc`` for ``mlayer_function/handler.py``:
    where that runtime's Python looks for the module's bytecode."""
    folder, _, file = source.rpartition("/")
    return f"{folder}/__pycache__/{file.removesuffix('.py')}.{runtime.pyc_tag}.pyc"


def compile_function(
    sources: list[tuple[str, Path]], runtime_name: str, runner: Runner = run_subprocess
) -> FunctionBytecode:
    """The pycs of ``sources`` (zip name, file) for ``runtime_name``, by its own interpreter
    found as everywhere in mlayer (PATH, then pyenv); none, and a note, without one."""
    runtime = get_runtime(runtime_name)
    version = runtime.python_version
    python = _interpreter(version, runner)
    if python is None:
        return FunctionBytecode(
            (),
            f"no python{version} on this machine (PATH or pyenv): the code zip holds the "
            f"function's sources without their bytecode, so each {runtime.name} cold start "
            f"compiles them (~18 ms of CPU), and its sha256 differs from a zip built where "
            f"python{version} is. Install Python {version} to ship its bytecode.",
        )
    key = _cache_key(sources, runtime, python)
    wanted = [pyc_name(name, runtime) for name, _ in sources]
    cached = _cached(key, wanted)
    if cached is not None:
        return FunctionBytecode(cached, "")
    with tempfile.TemporaryDirectory(prefix="mlayer-code-") as tmp:
        stage = Path(tmp)
        for name, path in sources:
            (stage / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, stage / name)
        target = TargetPython((python,), str(stage), can_import=False)
        result = compile_tree(stage, target, runtime, runner, prefix=TASK_DIR, jobs=1)
        pycs = tuple((n, (stage / n).read_bytes()) for n in wanted if (stage / n).is_file())
    compiled = {n for n, _ in pycs}
    missing = [src for (src, _), n in zip(sources, wanted, strict=True) if n not in compiled]
    if not missing:
        _keep(key, pycs)
        return FunctionBytecode(pycs, "")
    return FunctionBytecode(
        pycs,
        f"python{version} ({python}) did not compile {', '.join(missing)} ({result.detail}): "
        f"{'they ship' if len(missing) > 1 else 'it ships'} as sources only, and may not "
        f"even import on {runtime.name}.",
    )


def _interpreter(version: str, runner: Runner) -> str | None:
    """The runtime's Python, found as everywhere in mlayer (once per process by the real probe)."""
    if runner is not run_subprocess:
        return find_python(version, lambda exe: probe_version(exe, runner))[0]
    return find_python_once(version, probe_version)


def _cache_key(sources: list[tuple[str, Path]], runtime: Runtime, python: str) -> str:
    """What the pycs are a function of: the sources, the runtime and the compiler binary (its
    path, size and mtime: an interpreter upgraded in place compiles anew)."""
    exe = Path(python).resolve()
    seen = exe.stat()
    digest = hashlib.sha256(f"{runtime.name}\0{exe}\0{seen.st_size}\0{seen.st_mtime_ns}".encode())
    for name, path in sources:
        digest.update(b"\0" + name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _cache_file(key: str) -> Path:
    return default_cache_dir() / "code-pycs" / f"{key}.zip"


def _cached(key: str, wanted: list[str]) -> tuple[tuple[str, bytes], ...] | None:
    """The pycs an earlier deploy compiled from the same sources by the same interpreter: every
    deploy-function (and each rerun after a fault) would otherwise start that interpreter."""
    try:
        with zipfile.ZipFile(_cache_file(key)) as zf:
            if sorted(zf.namelist()) != sorted(wanted):
                return None
            return tuple((name, zf.read(name)) for name in wanted)
    except (OSError, zipfile.BadZipFile):
        return None


def _keep(key: str, pycs: tuple[tuple[str, bytes], ...]) -> None:
    """Written beside, then renamed: a reader never sees half a file; a failure only costs a
    compile next time."""
    path = _cache_file(key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with (
            tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as tmp,
            zipfile.ZipFile(tmp, "w") as zf,
        ):
            for name, data in pycs:
                zf.writestr(name, data)
        os.replace(tmp.name, path)
    except OSError:
        return
