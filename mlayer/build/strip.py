"""Choosing and running a strip tool that understands the target CPU's ELF files.

GNU ``strip`` handles only the host's CPU; for the other one we look for the cross binutils
(``aarch64-linux-gnu-strip``, ``x86_64-linux-gnu-strip``) or ``llvm-strip``, which handles all.
None found means the strip step is skipped, and the report says so.
"""

from __future__ import annotations

import glob
import os
import shutil
from pathlib import Path

from mlayer.build.runner import Runner
from mlayer.build.slim import ELF_MACHINES, Rewriter, elf_machine
from mlayer.build.target import host_machine
from mlayer.runtimes import MACHINES

_CHUNK = 200


def strip_candidates(arch: str) -> list[str]:
    machine = MACHINES[arch]
    names = [f"{machine}-linux-gnu-strip"]
    if machine == host_machine():
        names.insert(0, "strip")
    names.append("llvm-strip")
    for d in os.environ.get("PATH", "").split(os.pathsep):
        names.extend(
            sorted(os.path.basename(p) for p in glob.glob(os.path.join(d, "llvm-strip-*")))
        )
    return names


def find_strip(arch: str) -> tuple[str | None, str]:
    """(tool, "") or (None, why not)."""
    for name in strip_candidates(arch):
        path = shutil.which(name)
        if path:
            return path, ""
    machine = MACHINES[arch]
    return None, (
        f"no strip tool for {machine} found (looked for {', '.join(strip_candidates(arch)[:3])}); "
        "install binutils-aarch64-linux-gnu or llvm to strip"
        if machine != host_machine()
        else "no strip tool found; install binutils"
    )


def strip_rewriter(tool: str, arch: str, runner: Runner) -> Rewriter:
    """Strip symbols not needed for relocation, then check every file is still a target ELF."""

    def rewrite(files: list[Path]) -> str | None:
        for start in range(0, len(files), _CHUNK):
            chunk = [str(f) for f in files[start : start + _CHUNK]]
            done = runner([tool, "--strip-unneeded", *chunk], timeout=600)
            if not done.ok:
                return f"{os.path.basename(tool)} failed: {done.tail(2)}"
        for f in files:
            if elf_machine(f) != ELF_MACHINES[arch]:
                return f"{f.name} is not a {arch} ELF file after stripping"
        return None

    return rewrite
