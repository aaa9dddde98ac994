"""A layer build's stages, in order, in a staging folder: install, verify, slim, compile, check, zip.

Each stage's work lives in its own module (pip_builder/docker_builder, versions and checks,
slim, bytecode, packaging's zip); this one runs them in order, proves the tree imports before
and after slimming, and returns the record the build cache keeps (layer.py makes the result).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlayer.build.bytecode import BytecodeResult, compile_tree
from mlayer.build.cache import ENTRY_TREE, ENTRY_ZIP
from mlayer.build.checks import check_native_libs, import_check, static_check
from mlayer.build.docker_builder import DockerRun, install_with_docker
from mlayer.build.pip_builder import install_with_pip, pip_progress
from mlayer.build.progress import Progress, ProgressCallback
from mlayer.build.request import BuildRequest
from mlayer.build.requirements import read_requirements
from mlayer.build.runner import Runner, probe_version
from mlayer.build.slim import SlimStep, SmokeCheck, slim_tree
from mlayer.build.strip import find_strip, strip_rewriter
from mlayer.build.target import TargetPython, host_target
from mlayer.build.tree import installed_distributions, package_sizes, top_level_modules
from mlayer.build.versions import check_versions
from mlayer.errors import BuildError
from mlayer.interpreters import find_python
from mlayer.model.packaging import zip_tree
from mlayer.runtimes import Runtime, get_runtime

# zlib level 6 wrote the default recipe's ~190 MB in a third of level 9's time (4.8 s vs 13.7 s
# measured once, 2026-11-24), for a zip 0.7 % larger.
ZIP_LEVEL = 6


def build_into(
    staging: Path,
    request: BuildRequest,
    builder: str,
    runner: Runner,
    progress: ProgressCallback,
) -> dict[str, Any]:
    """Build the layer in ``staging``; the record of every stage, for the cache entry."""
    runtime = get_runtime(request.runtime)
    reqs = read_requirements(request.requirements)
    tree = staging / ENTRY_TREE
    tree.mkdir()
    target = _install(staging, request, builder, runtime, runner, progress)
    installed, modules, smoke = _verify(tree, reqs.pins, target, request, runtime, runner, progress)
    steps = _slim(tree, staging, smoke, request, runner, progress) if request.slim else []
    if request.compile:
        progress(Progress("compile", f"compiling bytecode for {runtime.name}"))
        bytecode = compile_tree(tree, target, runtime, runner)
    else:
        bytecode = BytecodeResult("skipped", 0, 0, "skipped: --no-compile")
    ok, detail = smoke(tree)
    if not ok:
        raise BuildError(f"The finished layer does not import: {detail}", "Retry with --no-slim.")
    if not target.can_import:
        detail = f"{detail}; {target.why_not}"
    progress(Progress("zip", "writing the deterministic zip"))
    info = zip_tree(
        staging / ENTRY_ZIP,
        tree,
        prefix="python/",
        compresslevel=ZIP_LEVEL,
        on_bytes=lambda done, total: progress(Progress("zip", "zipping", done, total)),
    )
    return {
        "runtime": runtime.name,
        "python_version": runtime.python_version,
        "architecture": request.arch,
        "builder": builder,
        "requirements_sha256": reqs.sha256,
        "packages": installed,
        "modules": modules,
        "slim_steps": [s.to_dict() for s in steps],
        "bytecode": bytecode.to_dict(),
        "check": detail,
        "unzipped_size": info.unzipped_size,
        "zipped_size": info.zipped_size,
        "zip_sha256": info.sha256,
        "package_sizes": package_sizes(tree),
    }


def _install(
    staging: Path,
    request: BuildRequest,
    builder: str,
    runtime: Runtime,
    runner: Runner,
    progress: ProgressCallback,
) -> TargetPython:
    """The recipe installed into the staging tree; the runtime's Python that can check it."""
    progress(Progress("install", f"installing {request.requirements} with {builder}"))
    on_line = pip_progress(lambda line: progress(Progress("install", line)))
    if builder == "docker":
        run = DockerRun(runtime, request.arch, Path(request.requirements), staging)
        install_with_docker(run, ENTRY_TREE, runner, on_line)
        return run.python(ENTRY_TREE)
    tree = staging / ENTRY_TREE
    install_with_pip(
        Path(request.requirements), tree, runtime, request.arch, runner, on_line=on_line
    )
    python, _tried = find_python(runtime.python_version, lambda exe: probe_version(exe, runner))
    return host_target(python, runtime.python_version, request.arch, str(tree))


def _verify(
    tree: Path,
    pins: dict[str, str],
    target: TargetPython,
    request: BuildRequest,
    runtime: Runtime,
    runner: Runner,
    progress: ProgressCallback,
) -> tuple[dict[str, str], list[str], SmokeCheck]:
    """(installed versions, top-level modules, the tree's import check), once the pins, the
    imports and the shared libraries are proven."""
    progress(Progress("verify", "checking installed versions against the pins"))
    installed = installed_distributions(tree)
    check_versions(pins, installed)
    modules = top_level_modules(tree)
    if target.can_import:
        smoke = import_check(target, modules, runner)
    else:
        smoke = static_check(modules, request.arch)
    ok, detail = smoke(tree)
    if not ok:
        raise BuildError(f"The installed layer does not import: {detail}", "See the error above.")
    check_native_libs(tree, runtime, request.arch, request.allow_missing_libs)
    return installed, modules, smoke


def _slim(
    tree: Path,
    staging: Path,
    smoke: SmokeCheck,
    request: BuildRequest,
    runner: Runner,
    progress: ProgressCallback,
) -> list[SlimStep]:
    tool, why_not = find_strip(request.arch)
    return slim_tree(
        tree,
        smoke,
        staging / "slim",
        strip_rewriter(tool, request.arch, runner) if tool else None,
        why_not,
        on_step=lambda name: progress(Progress("slim", f"slimming: {name}")),
    )
