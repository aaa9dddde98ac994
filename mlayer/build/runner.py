"""The one door to subprocesses for building layers, injectable so logic is testable.

Builders receive a Runner; tests pass a fake that records argv and answers like pip or docker.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
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
        cwd: str | os.PathLike[str] | None = None,
        timeout: float | None = None,
        on_line: Callable[[str], None] | None = None,
    ) -> Completed: ...


def run_subprocess(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float | None = None,
    on_line: Callable[[str], None] | None = None,
) -> Completed:
    """Run argv to completion, capturing output; a missing program is returncode 127.

    With ``on_line``, stderr is merged into stdout and each line is passed on as it comes
    (pip's "Collecting ..."/"Downloading ..." lines become the progress display).
    """
    full_env = {**os.environ, **env} if env is not None else None
    if on_line is not None:
        return _run_streaming(argv, full_env, cwd, timeout, on_line)
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


def _run_streaming(
    argv: Sequence[str],
    env: Mapping[str, str] | None,
    cwd: str | os.PathLike[str] | None,
    timeout: float | None,
    on_line: Callable[[str], None],
) -> Completed:
    try:
        proc = subprocess.Popen(
            list(argv),
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
    except FileNotFoundError as exc:
        return Completed(tuple(argv), 127, "", str(exc))
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        proc.kill()

    timer = threading.Timer(timeout, kill) if timeout else None
    if timer:
        timer.start()
    lines: list[str] = []
    assert proc.stdout is not None
    try:
        with proc.stdout:
            for line in proc.stdout:
                lines.append(line)
                on_line(line.rstrip("\n"))
        code = proc.wait()
    finally:
        if timer:
            timer.cancel()
        if proc.poll() is None:  # on_line raised (e.g. Ctrl-C): do not leave pip running
            proc.kill()
            proc.wait()
    if timed_out.is_set():
        return Completed(tuple(argv), 124, "".join(lines), f"timed out after {timeout:.0f}s")
    return Completed(tuple(argv), code, "".join(lines), "")


def probe_version(exe: str, runner: Runner = run_subprocess) -> str | None:
    """Run ``exe`` isolated (``-I``: PYTHON* variables ignored) and return the ``major.minor``
    it reports, or None if it does not run: the probe of ``mlayer.interpreters``."""
    try:
        done = runner(
            [exe, "-I", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], timeout=30
        )
    except OSError:  # e.g. a file that is not executable
        return None
    return done.stdout.strip() if done.ok else None
