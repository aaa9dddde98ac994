"""The one door to subprocesses for building layers, injectable so logic is testable.

Builders receive a Runner; tests pass a fake that records argv and answers like pip or docker.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Completed:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def tail(self, lines: int = 15) -> str:
        """The end of what the command said, for error messages."""
        text = (self.stderr.strip() or self.stdout.strip()).splitlines()
        return "\n".join(text[-lines:])


class Runner(Protocol):
    def __call__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike | None = None,
        timeout: float | None = None,
    ) -> Completed: ...


def run_subprocess(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike | None = None,
    timeout: float | None = None,
) -> Completed:
    """Run argv to completion, capturing output; a missing program is returncode 127."""
    full_env = {**os.environ, **env} if env is not None else None
    try:
        proc = subprocess.run(
            list(argv),
            env=full_env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        return Completed(tuple(argv), 127, "", str(exc))
    except subprocess.TimeoutExpired as exc:
        return Completed(tuple(argv), 124, "", f"timed out after {exc.timeout:.0f}s")
    return Completed(tuple(argv), proc.returncode, proc.stdout, proc.stderr)
