"""`mlayer shadow status|promote|stop`: the candidate publish-model --shadow attached."""

from __future__ import annotations

import click

from mlayer import api
from mlayer.cli.app import App, pass_app
from mlayer.cli.group import cli
from mlayer.cli.options import dry_run_option, function_option, layer_name_option, yes_option
from mlayer.request_types import ShadowRequest


@cli.command("shadow")
@click.argument("action", type=click.Choice(["status", "promote", "stop"]))
@function_option("Function whose shadow it is (default: [function] name).")
@layer_name_option
@click.option("--alias", help="The alias moved by promote and stop (default: [model] alias).")
@click.option(
    "--window",
    type=click.IntRange(min=1),
    default=60,
    show_default=True,
    help="status: minutes per window (the total is shown too).",
)
@click.option(
    "--rollout",
    type=click.Choice(["all-at-once", "canary", "linear"]),
    help="promote: move the alias by a rollout's judged steps (needs [model] alias; default: "
    "relink at once).",
)
@click.option("--percent", type=float, help="promote --rollout: canary P%, linear +P% a step.")
@click.option("--interval", help="promote --rollout: how long each step is watched, e.g. 5m.")
@click.option("--no-wait", is_flag=True, help="promote --rollout: start it and return.")
@dry_run_option
@yes_option("Promote or stop without asking.")
@click.option("--json", "json_output", is_flag=True, help="The result as JSON.")
@pass_app
def shadow(
    app: App, action, function_name, layer_name, alias, window, dry_run, yes, json_output, **more
) -> None:
    """status: records compared, agreement (or |differences|), the candidate's dead letters,
    both predict times and its extra cost, per window and in total; promote: make the candidate
    live (the ordinary relink); stop: detach it."""
    app.json_output = app.json_output or json_output
    settings = app.settings_with(function={"name": function_name}, model={"layer": layer_name})
    more["wait"] = not more.pop("no_wait", False)
    request = ShadowRequest(
        action=action, alias=alias, dry_run=dry_run, window_s=window * 60, **more
    )
    app.emit(api.shadow(settings, request, confirm=app.confirmer(yes)))
