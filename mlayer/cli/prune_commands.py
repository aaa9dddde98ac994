"""prune: delete what no alias, $LATEST, rollout, shadow or rollback needs."""

from __future__ import annotations

import click

from mlayer import api
from mlayer.cli.app import App, pass_app
from mlayer.cli.group import cli
from mlayer.cli.options import dry_run_option, function_option, layer_name_option, yes_option
from mlayer.request_types import PruneRequest


@cli.command()
@function_option("Function to prune (default: [function] name).")
@layer_name_option
@click.option(
    "--keep",
    type=click.IntRange(min=1),
    help="Newest versions always kept (default: [prune] keep, 10).",
)
@click.option(
    "--older-than",
    "older_than_days",
    type=click.IntRange(min=0),
    metavar="DAYS",
    help="Nothing younger than DAYS goes (default: [prune] older_than_days, 14).",
)
@click.option(
    "--deps", is_flag=True, help="Also the dependencies layer's versions nothing carries."
)
@dry_run_option
@yes_option("Delete without asking.")
@click.option("--json", "json_output", is_flag=True, help="The plan and the outcome as JSON.")
@pass_app
def prune(app: App, function_name, layer_name, yes, json_output, **fields) -> None:
    """Delete old function versions, model layer versions and their artifacts, safely.

    A version goes only when it is outside the newest --keep AND older than --older-than, and
    nothing needs it: an alias (and its canary weight), $LATEST, provisioned concurrency, an
    event-source mapping, a rollout, a shadow, or `rollback --previous`. Shows the plan first.
    """
    app.json_output = app.json_output or json_output
    settings = app.settings_with(function={"name": function_name}, model={"layer": layer_name})
    quiet = yes or app.json_output or fields.get("dry_run")
    result = api.prune(
        settings,
        PruneRequest(**fields),
        confirm=app.confirmer(yes),
        show=None if quiet else (lambda text: click.echo(text, err=True)),
        progress=app.progress(),
    )
    app.emit(result)
