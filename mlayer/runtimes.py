"""Lambda's Python runtimes and limits, as data: the one place these facts live.

A compiled wheel runs on Lambda only if its manylinux tag asks for a glibc no newer than the
runtime's OS has, and for the function's CPU. pip must be given every such tag: asked for
``manylinux2014`` alone it silently settles on older releases of numpy/scipy/scikit-learn.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlayer.errors import ConfigError

# Lambda's limits (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
MAX_LAYERS = 5
MAX_UNZIPPED_BYTES = 262_144_000  # function + all its layers, unzipped
MAX_DIRECT_UPLOAD_BYTES = 50 * 1024 * 1024  # a zip sent in the API call itself

ARCHITECTURES = ("x86_64", "arm64")
# The CPU name used by wheel tags, ELF tools and `uname -m`.
MACHINES = {"x86_64": "x86_64", "arm64": "aarch64"}
# Oldest manylinux glibc minor a wheel can carry per CPU (aarch64 wheels start at 2.17).
_OLDEST_GLIBC_MINOR = {"x86_64": 5, "arm64": 17}
# PEP 600's names for the legacy manylinux tags: (glibc minor, CPUs that have them).
_LEGACY_ALIASES = {
    "manylinux2014": (17, ("x86_64", "arm64")),
    "manylinux2010": (12, ("x86_64",)),
    "manylinux1": (5, ("x86_64",)),
}
BUILD_IMAGE = "public.ecr.aws/sam/build-{runtime}:latest-{arch}"


@dataclass(frozen=True)
class Runtime:
    """One Lambda Python runtime: the interpreter version and the OS it runs on."""

    name: str
    python_version: str
    os: str
    glibc: tuple[int, int]

    @property
    def python_tag(self) -> str:
        """``cp312`` for python3.12: the wheel ABI tag of this interpreter."""
        return "cp" + self.python_version.replace(".", "")

    @property
    def pyc_tag(self) -> str:
        """``cpython-312``: the suffix Python looks for in ``__pycache__``."""
        return "cpython-" + self.python_version.replace(".", "")


RUNTIMES: dict[str, Runtime] = {
    r.name: r
    for r in (
        Runtime("python3.10", "3.10", "Amazon Linux 2", (2, 26)),
        Runtime("python3.11", "3.11", "Amazon Linux 2", (2, 26)),
        Runtime("python3.12", "3.12", "Amazon Linux 2023", (2, 34)),
        Runtime("python3.13", "3.13", "Amazon Linux 2023", (2, 34)),
    )
}


def get_runtime(name: str) -> Runtime:
    """The runtime called ``name``, or a ConfigError that lists the ones that exist."""
    try:
        return RUNTIMES[name]
    except KeyError:
        raise ConfigError(
            f"Unknown Lambda runtime {name!r}.",
            f"Use one of: {', '.join(RUNTIMES)}.",
        ) from None


def check_arch(arch: str) -> str:
    if arch not in ARCHITECTURES:
        raise ConfigError(
            f"Unknown architecture {arch!r}.", f"Use one of: {', '.join(ARCHITECTURES)}."
        )
    return arch


def runtime_for_python(version: str) -> Runtime | None:
    """The runtime whose interpreter is ``version`` (``"3.11"``), if Lambda has one."""
    return RUNTIMES.get("python" + version)


def manylinux_tags(runtime: Runtime, arch: str) -> list[str]:
    """Every manylinux platform tag whose wheels run on ``runtime`` for ``arch``, newest first."""
    machine = MACHINES[check_arch(arch)]
    major, newest = runtime.glibc
    oldest = _OLDEST_GLIBC_MINOR[arch]
    tags = [f"manylinux_{major}_{minor}_{machine}" for minor in range(newest, oldest - 1, -1)]
    for alias, (minor, arches) in _LEGACY_ALIASES.items():
        if arch in arches and oldest <= minor <= newest:
            tags.append(f"{alias}_{machine}")
    return tags


def build_image(runtime: Runtime, arch: str) -> str:
    """The SAM build image that matches the runtime's OS, glibc and Python for ``arch``."""
    return BUILD_IMAGE.format(runtime=runtime.name, arch=check_arch(arch))
