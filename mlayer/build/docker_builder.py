"""The docker builder: pip runs inside the runtime's own build image, under ``--platform``.

The image has the runtime's exact Python, glibc and compilers, so it also builds packages that
publish no wheel for the target. The project's requirements file, ``docker-build/`` and the
work folder are mounted; files are written as the calling user so they stay removable.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mlayer.build.requirements import SHIPPED_ROOT
from mlayer.build.runner import Runner
from mlayer.build.target import TargetPython
from mlayer.errors import BuildError
from mlayer.runtimes import Runtime, build_image

SCRIPT_MOUNT = "/mlayer/scripts"
REQ_MOUNT = "/mlayer/requirements"
WORK_MOUNT = "/mlayer/work"


def scripts_dir() -> Path:
    """``docker-build/`` beside the mlayer package (a source checkout or an editable install)."""
    here = SHIPPED_ROOT / "docker-build"
    if not (here / "build.sh").is_file():
        raise BuildError(
            f"The docker builder's script is missing ({here / 'build.sh'}).",
            "Run mlayer from a checkout of its repository, or use --builder pip.",
        )
    return here


def docker_available(runner: Runner) -> tuple[bool, str]:
    """Whether a Docker engine answers (``docker info``), and what was seen."""
    done = runner(["docker", "info", "--format", "{{.ServerVersion}}"], timeout=30)
    if done.ok:
        return True, f"Docker engine {done.stdout.strip() or 'found'}"
    if done.returncode == 127:
        return False, "no docker command"
    return False, "no Docker engine answers: " + (done.tail(1) or "docker info failed")


@dataclass(frozen=True)
class DockerRun:
    """The ``docker run`` prefix shared by install and by running the image's Python."""

    runtime: Runtime
    arch: str
    requirements: Path
    work: Path

    def prefix(self) -> list[str]:
        argv = [
            "docker",
            "run",
            "--rm",
            "--platform",
            f"linux/{'amd64' if self.arch == 'x86_64' else 'arm64'}",
        ]
        if hasattr(os, "getuid"):
            argv += ["--user", f"{os.getuid()}:{os.getgid()}"]
        argv += [
            "-e",
            "HOME=/tmp",
            "-e",
            f"MLAYER_PYTHON_VERSION={self.runtime.python_version}",
            "-v",
            f"{scripts_dir()}:{SCRIPT_MOUNT}:ro",
            "-v",
            f"{self.requirements.resolve().parent}:{REQ_MOUNT}:ro",
            "-v",
            f"{self.work.resolve()}:{WORK_MOUNT}",
            "--entrypoint",
            "",
            build_image(self.runtime, self.arch),
        ]
        return argv

    def install_argv(self, tree_name: str) -> list[str]:
        return [
            *self.prefix(),
            "bash",
            f"{SCRIPT_MOUNT}/build.sh",
            "install",
            f"{REQ_MOUNT}/{self.requirements.name}",
            f"{WORK_MOUNT}/{tree_name}",
        ]

    def python(self, tree_name: str) -> TargetPython:
        """The image's interpreter over the tree; under --platform it can import the target."""
        return TargetPython(
            (*self.prefix(), f"python{self.runtime.python_version}"),
            f"{WORK_MOUNT}/{tree_name}",
            True,
        )


def install_with_docker(
    run: DockerRun,
    tree_name: str,
    runner: Runner,
    on_line: Callable[[str], None] | None = None,
) -> None:
    done = runner(run.install_argv(tree_name), timeout=3600, on_line=on_line)
    if not done.ok:
        raise BuildError(
            f"The build in {build_image(run.runtime, run.arch)} failed:\n{done.tail(12)}",
            "Check the requirements; for arm64 on an x86_64 machine Docker needs QEMU "
            "(docker run --privileged --rm tonistiigi/binfmt --install arm64).",
        )
