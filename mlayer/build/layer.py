"""Building a dependencies layer end to end: install, verify, slim, compile, zip, measure, cache.

Each stage lives in its own module and stages.py runs them in order into a staging folder;
this one chooses the builder, keys and fills the build cache, and turns its record into the
result (and the lock), so that the result tells the whole story of the build.
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
from mlayer.build.bytecode import BytecodeResult
from mlayer.build.cache import ENTRY_TREE, ENTRY_ZIP, BuildCache, cache_key, default_cache_dir
from mlayer.build.checks import check_native_libs
from mlayer.build.docker_builder import docker_available
from mlayer.build.lock import file_lock
from mlayer.build.progress import Progress, ProgressCallback, no_progress
from mlayer.build.request import BuildRequest
from mlayer.build.requirements import read_requirements
from mlayer.build.runner import Runner, run_subprocess
from mlayer.build.shadowing import Shadow, shadow_warnings, shadowed
from mlayer.build.slim import SlimStep
from mlayer.build.stages import build_into
from mlayer.errors import BuildError, ConfigError, UsageError
from mlayer.runtimes import check_arch, get_runtime

LOCK_SCHEMA_VERSION = 1
BUILDERS = ("auto", "docker", "pip")


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
            doc = build_into(staging, request, builder, runner, progress)
            shutil.rmtree(staging / "slim", ignore_errors=True)
            entry = cache.commit(key, staging, doc)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return _result(doc, entry, request, reason, key, False, t0)
