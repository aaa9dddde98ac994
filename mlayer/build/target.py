"""How to run the runtime's own interpreter over a layer tree: on the host, or in the build image.

Smoke imports need that interpreter on the target's CPU; bytecode needs only its version
(pycs do not depend on the CPU), so an x86_64 host can compile an arm64 tree but not import it.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass

from mlayer.runtimes import MACHINES


@dataclass(frozen=True)
class TargetPython:
    argv: tuple[str, ...]  # command prefix that starts the runtime's Python; () if there is none
    tree: str  # the layer tree's path as that interpreter sees it
    can_import: bool  # it runs on the target's CPU, so importing the tree proves something
    why_not: str = ""  # why it is missing or cannot import

    @property
    def available(self) -> bool:
        return bool(self.argv)


def host_machine() -> str:
    machine = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)


def host_target(python: str | None, version: str, arch: str, tree: str) -> TargetPython:
    """The runtime's interpreter found on this machine (PATH or pyenv), if any."""
    if python is None:
        return TargetPython(
            (), tree, False, f"no python{version} on PATH or under ~/.pyenv/versions"
        )
    if MACHINES[arch] != host_machine():
        return TargetPython(
            (python,),
            tree,
            False,
            f"this {host_machine()} machine cannot import an {arch} layer",
        )
    return TargetPython((python,), tree, True)
