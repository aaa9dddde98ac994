"""Signals as a terminal delivers them to a child the tests start."""

from __future__ import annotations

import signal


def interruptible() -> None:
    """SIGINT at its default in the child (``preexec_fn``): a runner that started the suite in the
    background (a non-interactive shell's ``&`` ignores SIGINT) would otherwise pass SIG_IGN down
    to it, and Python would never raise KeyboardInterrupt there."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
