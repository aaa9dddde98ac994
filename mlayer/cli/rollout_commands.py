"""`mlayer rollout status|resume|abort`: the alias's rollout, read, driven on, or reverted."""

from __future__ import annotations

import click

from mlayer import api
from mlayer.cli.app import App, pass_app
from mlayer.cli.group import cli
from mlayer.cli.options import function_option
from mlayer.request_types import RolloutRequest


@cli.command("rollout")
@click.argument("action", type=click.Choice(["status", "resume", "abort"]))
@function_option("Function whose alias is rolled out (default: [function] name).")
@click.option("--alias", help="The alias (default: [model] alias).")
@click.option("--json", "json_output", is_flag=True, help="The rollout's state as JSON.")
@pass_app
def rollout(app: App, action, function_name, alias, json_output) -> None:
    """status: where the rollout stands; resume: drive it on after an interruption (or
    --no-wait); abort: all traffic back on the old version."""
    app.json_output = app.json_output or json_output
    settings = app.settings_with(function={"name": function_name})
    request = RolloutRequest(action=action, alias=alias)
    app.emit(api.rollout(settings, request, progress=app.progress()))
