"""The mlayer command line: parse -> one request -> one api call -> render.

The only package that imports click. group.py holds the `mlayer` group and maps errors to exit
codes in one place; each *_commands module registers its commands on it; app.py gives them
settings, output and confirmation; progress.py draws progress on stderr.
"""

from __future__ import annotations

from mlayer.cli import (  # noqa: F401 (registers)
    local_commands,
    model_commands,
    policy_commands,
    prune_commands,
    rollout_commands,
    setup_commands,
    shadow_commands,
)
from mlayer.cli.app import App, confirm, pass_app
from mlayer.cli.group import MlayerGroup, cli

__all__ = ["App", "MlayerGroup", "cli", "confirm", "main", "pass_app"]


def main() -> None:
    cli(prog_name="mlayer")
