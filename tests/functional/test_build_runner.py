"""The build's one door to subprocesses: captured, streamed line by line, timed out, missing."""

from __future__ import annotations

import sys

from mlayer.build.runner import run_subprocess

PRINTS = "import sys, time\nprint('one', flush=True)\nprint('two', file=sys.stderr)\nsys.exit(3)"


def test_streaming_passes_every_line_and_keeps_the_output():
    lines = []
    done = run_subprocess([sys.executable, "-c", PRINTS], on_line=lines.append, timeout=30)
    assert sorted(lines) == ["one", "two"]
    assert done.returncode == 3 and not done.ok
    assert done.tail(2).splitlines() == sorted(lines, key=done.stdout.index)


def test_timeouts_and_missing_programs_have_their_own_codes():
    sleep = [sys.executable, "-c", "import time; time.sleep(30)"]
    assert run_subprocess(sleep, timeout=0.5).returncode == 124
    streamed = run_subprocess(sleep, timeout=0.5, on_line=lambda _line: None)
    assert streamed.returncode == 124 and "timed out" in streamed.tail()
    for on_line in (None, print):
        assert run_subprocess(["mlayer-no-such-program"], on_line=on_line).returncode == 127
