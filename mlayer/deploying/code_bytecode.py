"""The function's modules as pycs for its runtime, compiled by that runtime's own Python.

/var/task is read-only on Lambda: without pycs in the code zip every cold start compiles the
function's modules (~18 ms of CPU, docs/BENCHMARKS.md). They are compiled as build-deps
compiles a layer (build/bytecode.py): unchecked-hash pycs, which hold no timestamp (the same
sources give the same bytes, so an unchanged function keeps its CodeSha256) and which Python
never checks against the sources, naming ``/var/task/...`` as their sources. One worker, in
file order (~40 small files), under compile_tree's fixed hash seed.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mlayer.build.bytecode import compile_tree
from mlayer.build.runner import Runner, probe_version, run_subprocess
from mlayer.build.target import TargetPython
from mlayer.interpreters import find_python
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
    python, _tried = find_python(version, lambda exe: probe_version(exe, runner))
    if python is None:
        return FunctionBytecode(
            (),
            f"no python{version} on this machine (PATH or pyenv): the code zip holds the "
            f"function's sources without their bytecode, so each {runtime.name} cold start "
            f"compiles them (~18 ms of CPU), and its sha256 differs from a zip built where "
            f"python{version} is. Install Python {version} to ship its bytecode.",
        )
    with tempfile.TemporaryDirectory(prefix="mlayer-code-") as tmp:
        stage = Path(tmp)
        for name, path in sources:
            (stage / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, stage / name)
        target = TargetPython((python,), str(stage), can_import=False)
        result = compile_tree(stage, target, runtime, runner, prefix=TASK_DIR, jobs=1)
        wanted = [pyc_name(name, runtime) for name, _ in sources]
        pycs = tuple((n, (stage / n).read_bytes()) for n in wanted if (stage / n).is_file())
    compiled = {n for n, _ in pycs}
    missing = [src for (src, _), n in zip(sources, wanted, strict=True) if n not in compiled]
    if not missing:
        return FunctionBytecode(pycs, "")
    return FunctionBytecode(
        pycs,
        f"python{version} ({python}) did not compile {', '.join(missing)} ({result.detail}): "
        f"{'they ship' if len(missing) > 1 else 'it ships'} as sources only, and may not "
        f"even import on {runtime.name}.",
    )
