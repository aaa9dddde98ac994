"""Options declared once and shared by the commands that take them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _stack(*options: Decorator) -> Decorator:
    def apply(f: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            f = option(f)
        return f

    return apply


def function_option(help: str) -> Decorator:
    return click.option("--function", "function_name", help=help)


layer_name_option = click.option("--layer-name", help="Model layer name (default: [model] layer).")
dry_run_option = click.option("--dry-run", is_flag=True, help="Show the plan and change nothing.")


def yes_option(help: str) -> Decorator:
    return click.option("--yes", is_flag=True, help=help)


allow_version_mismatch_option = click.option(
    "--allow-version-mismatch",
    is_flag=True,
    help="Go ahead even if the model was pickled with other versions than the deps layer's "
    "(unsafe).",
)

# publish-model and rollback: what they relink, the alias they move, the check, the dry run.
relink_options = _stack(
    function_option("Function to relink (default: [function] name)."),
    layer_name_option,
    click.option(
        "--alias",
        help="Also publish a function version and move this alias to it (default: [model] alias).",
    ),
    allow_version_mismatch_option,
    dry_run_option,
    yes_option("Relink without asking."),
)
