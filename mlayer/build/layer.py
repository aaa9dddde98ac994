"""Building a dependencies layer end to end: install, verify, slim, compile, zip, measure, cache.

Each stage lives in its own module; this one only orders them and records what happened, so
that the result (and the cache entry it is saved as) tells the whole story of the build.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlayer.build.budget import Budget, make_budget
from mlayer.build.bytecode import BytecodeResult, compile_tree
from mlayer.build.cache import ENTRY_TREE, ENTRY_ZIP, BuildCache, cache_key, default_cache_dir
from mlayer.build.checks import check_native_libs, import_check, static_check
from mlayer.build.docker_builder import DockerRun, docker_available, install_with_docker
from mlayer.build.lock import file_lock
from mlayer.build.pip_builder import install_with_pip, pip_progress
from mlayer.build.progress import Progress, ProgressCallback, no_progress
from mlayer.build.requirements import read_requirements
from mlayer.build.runner import Runner, probe_version, run_subprocess
from mlayer.build.shadowing import Shadow, shadow_warnings, shadowed
from mlayer.build.slim import SlimStep, slim_tree
from mlayer.build.strip import find_strip, strip_rewriter
from mlayer.build.target import TargetPython, host_target
from mlayer.build.tree import installed_distributions, package_sizes, top_level_modules
from mlayer.build.versions import check_versions
from mlayer.errors import BuildError, ConfigError, UsageError
from mlayer.interpreters import find_python
from mlayer.model.packaging import zip_tree
from mlayer.runtimes import MAX_UNZIPPED_BYTES, check_arch, get_runtime

LOCK_SCHEMA_VERSION = 1
BUILDERS = ("auto", "docker", "pip")
# zlib level 6 writes the default recipe's ~190 MB in a third of level 9's time (4.8 s vs 13.7 s
# measured), for a zip 0.7 % larger (docs/BENCHMARKS.md).
ZIP_LEVEL = 6


@dataclass(frozen=True)
class BuildRequest:
    requirements: Path
    runtime: str = "python3.12"
    arch: str = "x86_64"
    builder: str = "auto"
    output: Path = Path("build")
    slim: bool = True
    compile: bool = True
    force: bool = False
    cache_dir: Path | None = None
    budget_bytes: int = MAX_UNZIPPED_BYTES
    allow_missing_libs: tuple[str, ...] = ()  # sonames the user vouches Lambda will find


@dataclass(frozen=True)
class LayerBuild:
    """What was built, how, and what it weighs. ``cached`` says whether this run built it."""

    runtime: str
    python_version: str
    arch: str
    builder: str
    builder_reason: str
    requirements: str
    requirements_sha256: str
    packages: dict[str, str]
    modules: tuple[str, ...]
    slim_steps: tuple[SlimStep, ...]
    bytecode: BytecodeResult
    check: str  # how the final tree was proven (import or static checks)
    budget: Budget
    zip_path: Path
    zip_sha256: str
    lock_path: Path
    tree: Path  # the unpacked layer tree (``python/``) in the cache
    cache_key: str
    cached: bool
    seconds: float
    slim: bool  # slimming was asked for (its steps say what each one did)
    compile: bool  # bytecode was asked for (``bytecode`` says whether it happened)
    package_sizes: dict[str, int] = field(default_factory=dict)
    shadows: tuple[Shadow, ...] = ()  # the runtime's own packages this layer replaces

    @property
    def shadow_warnings(self) -> list[str]:
        """One sentence per shadowed package the runtime's boto3/botocore does not accept."""
        return shadow_warnings(list(self.shadows))

    def lock(self) -> dict[str, Any]:
        """The dependencies lock (docs/FORMATS.md)."""
        return {
            "schema_version": LOCK_SCHEMA_VERSION,
            "runtime": self.runtime,
            "python_version": self.python_version,
            "architecture": self.arch,
            "builder": self.builder,
            "requirements_sha256": self.requirements_sha256,
            "packages": dict(self.packages),
            "modules": list(self.modules),
            "unzipped_size": self.budget.unzipped,
            "zipped_size": self.budget.zipped,
            "zip_sha256": self.zip_sha256,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.lock(),
            "builder_reason": self.builder_reason,
            "requirements": self.requirements,
            "slim": self.slim,
            "compile": self.compile,
            "slim_steps": [s.to_dict() for s in self.slim_steps],
            "bytecode": self.bytecode.to_dict(),
            "check": self.check,
            "budget": self.budget.to_dict(),
            "zip_path": str(self.zip_path),
            "lock_path": str(self.lock_path),
            "tree": str(self.tree),
            "cache_key": self.cache_key,
            "cached": self.cached,
            "seconds": round(self.seconds, 3),
        }


def choose_builder(builder: str, runner: Runner) -> tuple[str, str]:
    """(builder, why): ``auto`` is docker when an engine answers, else pip."""
    if builder not in BUILDERS:
        raise ConfigError(f"Unknown builder {builder!r}.", "Use one of: auto, docker, pip.")
    if builder == "pip":
        return "pip", "pip (asked for)"
    ok, seen = docker_available(runner)
    if builder == "docker":
        if not ok:
            raise BuildError(
                f"The docker builder needs a Docker engine: {seen}.",
                "Start Docker (or set DOCKER_HOST), or use --builder pip.",
            )
        return "docker", f"docker (asked for; {seen})"
    if ok:
        return "docker", f"docker ({seen})"
    return "pip", f"pip ({seen})"


def _build_into(
    staging: Path,
    request: BuildRequest,
    builder: str,
    runner: Runner,
    progress: ProgressCallback,
) -> dict[str, Any]:
    runtime = get_runtime(request.runtime)
    reqs = read_requirements(request.requirements)
    tree = staging / ENTRY_TREE
    tree.mkdir()
    progress(Progress("install", f"installing {request.requirements} with {builder}"))
    on_line = pip_progress(lambda line: progress(Progress("install", line)))
    target: TargetPython
    if builder == "docker":
        run = DockerRun(runtime, request.arch, Path(request.requirements), staging)
        install_with_docker(run, ENTRY_TREE, runner, on_line)
        target = run.python(ENTRY_TREE)
    else:
        install_with_pip(
            Path(request.requirements), tree, runtime, request.arch, runner, on_line=on_line
        )
        python, _tried = find_python(runtime.python_version, lambda exe: probe_version(exe, runner))
        target = host_target(python, runtime.python_version, request.arch, str(tree))

    progress(Progress("verify", "checking installed versions against the pins"))
    installed = installed_distributions(tree)
    check_versions(reqs.pins, installed)
    modules = top_level_modules(tree)
    if target.can_import:
        smoke = import_check(target, modules, runner)
    else:
        smoke = static_check(modules, request.arch)
    ok, detail = smoke(tree)
    if not ok:
        raise BuildError(f"The installed layer does not import: {detail}", "See the error above.")
    check_native_libs(tree, runtime, request.arch, request.allow_missing_libs)

    steps: list[SlimStep] = []
    if request.slim:
        tool, why_not = find_strip(request.arch)
        steps = slim_tree(
            tree,
            smoke,
            staging / "slim",
            strip_rewriter(tool, request.arch, runner) if tool else None,
            why_not,
            on_step=lambda name: progress(Progress("slim", f"slimming: {name}")),
        )

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


def _result(
    doc: dict[str, Any],
    entry: Path,
    request: BuildRequest,
    reason: str,
    key: str,
    cached: bool,
    t0: float,
) -> LayerBuild:
    out = Path(request.output).absolute()
    stem = f"deps-{doc['runtime']}-{doc['architecture']}"
    zip_path = out / f"{stem}.zip"
    with _writable(out, "Pass another --output folder."):
        shutil.copyfile(entry / ENTRY_ZIP, zip_path)
    build = LayerBuild(
        runtime=doc["runtime"],
        python_version=doc["python_version"],
        arch=doc["architecture"],
        builder=doc["builder"],
        builder_reason=reason,
        requirements=str(request.requirements),
        requirements_sha256=doc["requirements_sha256"],
        packages=dict(doc["packages"]),
        modules=tuple(doc["modules"]),
        slim_steps=tuple(SlimStep(**s) for s in doc["slim_steps"]),
        bytecode=BytecodeResult(**doc["bytecode"]),
        check=doc["check"],
        budget=make_budget(
            doc["unzipped_size"], doc["zipped_size"], doc["package_sizes"], request.budget_bytes
        ),
        zip_path=zip_path,
        zip_sha256=doc["zip_sha256"],
        lock_path=out / f"{stem}.lock.json",
        tree=entry / ENTRY_TREE,
        cache_key=key,
        cached=cached,
        seconds=time.monotonic() - t0,
        slim=request.slim,
        compile=request.compile,
        package_sizes=dict(doc["package_sizes"]),
        shadows=tuple(shadowed(doc["packages"])),
    )
    with _writable(out, "Pass another --output folder."):
        build.lock_path.write_text(json.dumps(build.lock(), indent=2, sort_keys=True) + "\n")
    return build


def _cached(
    doc: dict[str, Any], entry: Path, request: BuildRequest, reason: str, key: str, t0: float
) -> LayerBuild:
    """A cached build, checked again for what its libraries need (it may predate the check)."""
    runtime = get_runtime(request.runtime)
    check_native_libs(entry / ENTRY_TREE, runtime, request.arch, request.allow_missing_libs)
    return _result(doc, entry, request, reason, key, True, t0)


@contextlib.contextmanager
def _writable(folder: Path, hint: str) -> Iterator[None]:
    """A folder mlayer must write to but cannot is the user's to fix (exit 2), not a crash."""
    try:
        yield
    except OSError as exc:
        raise UsageError(f"Cannot write to {folder}: {exc.strerror or exc}.", hint) from None


def build_layer(
    request: BuildRequest,
    runner: Runner = run_subprocess,
    progress: ProgressCallback = no_progress,
) -> LayerBuild:
    """Build (or fetch from the cache) the layer that ``request`` describes."""
    t0 = time.monotonic()
    runtime = get_runtime(request.runtime)
    check_arch(request.arch)
    reqs = read_requirements(request.requirements)
    with _writable(Path(request.output).absolute(), "Pass another --output folder."):
        Path(request.output).mkdir(parents=True, exist_ok=True)  # before a build, not after
    progress(Progress("resolve", "choosing the builder"))
    builder, reason = choose_builder(request.builder, runner)
    key = cache_key(
        reqs.inputs_sha256, runtime.name, request.arch, builder, request.slim, request.compile
    )
    cache = BuildCache(request.cache_dir or default_cache_dir())
    if not request.force and (doc := cache.load(key)) is not None:
        progress(Progress("cache", "found in the build cache"))
        return _cached(doc, cache.entry(key), request, reason, key, t0)
    with _writable(cache.root, "Set MLAYER_CACHE_DIR to a folder you can write to."):
        cache.lock_path(key).parent.mkdir(parents=True, exist_ok=True)
        cache.lock_path(key).touch()
    with file_lock(cache.lock_path(key)):
        if not request.force and (doc := cache.load(key)) is not None:
            return _cached(doc, cache.entry(key), request, reason, key, t0)
        staging = cache.staging(key)
        try:
            doc = _build_into(staging, request, builder, runner, progress)
            shutil.rmtree(staging / "slim", ignore_errors=True)
            entry = cache.commit(key, staging, doc)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return _result(doc, entry, request, reason, key, False, t0)
