"""Progress lines of long work on stderr, so that --json stdout stays clean.

A message ending in ``NN%`` is a bar: redrawn in place on a terminal, and shown only at each
quarter in a log, so a 200 MB upload is not 100 lines.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable

import click

_PERCENT = re.compile(r"^(.*?)\s+(\d{1,3})%$")
_WIDTH = 30


def progress_printer(quiet: bool) -> Callable[[str], None]:
    """A step reporter; ``quiet`` (--json without --verbose) shows nothing."""
    tty = sys.stderr.isatty()
    state = {"bar": "", "shown": -1}

    def end_bar() -> None:
        if state["bar"] and tty:
            click.echo("", err=True)

    def step(message: str) -> None:
        if quiet:
            return
        match = _PERCENT.match(message)
        if match is None:
            end_bar()
            state["bar"] = ""
            click.echo(f"  {message}", err=True)
            return
        label, pct = match.group(1), min(int(match.group(2)), 100)
        if label != state["bar"]:
            end_bar()
            state["bar"], state["shown"] = label, -1
        if tty:
            filled = pct * _WIDTH // 100
            click.echo(
                f"\r  {label} [{'#' * filled}{'.' * (_WIDTH - filled)}] {pct:3d}%",
                err=True,
                nl=pct >= 100,
            )
        elif pct // 25 > state["shown"]:
            state["shown"] = pct // 25
            click.echo(f"  {label} {pct}%", err=True)

    return step
