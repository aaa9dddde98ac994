"""publish-model, rollback, history and status: the model layer's commands."""

from __future__ import annotations

import click

from mlayer import api
from mlayer.cli.app import App, pass_app
from mlayer.cli.group import cli
from mlayer.cli.options import function_option, layer_name_option, relink_options
from mlayer.request_types import HistoryRequest, PublishRequest, RollbackRequest


def _model_settings(app: App, function_name: str | None, layer_name: str | None):
    return app.settings_with(function={"name": function_name}, model={"layer": layer_name})


@cli.command("publish-model")
@click.argument("model", required=False, type=click.Path(dir_okay=False))
@click.option(
    "-p",
    "--preprocessor",
    "preprocessors",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="A preprocessor artifact, in pipeline order (repeat).",
)
@click.option(
    "--code",
    "code_files",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="A Python module the pickles import (repeat); lands under python/ in the layer.",
)
@click.option("--label", help="Model version label (default: v<layer version>).")
@click.option(
    "--input",
    "input_kind",
    type=click.Choice(["auto", "text", "features", "record", "table"]),
    help="What records carry (default: [model] input; auto: chosen from the pipeline).",
)
@click.option(
    "--format",
    "format",
    type=click.Choice(["sklearn", "onnx"]),
    help="Serve the pickles (sklearn) or one ONNX graph converted from them and checked against "
    "--sample (onnx: python3.12+). Default: [model] format.",
)
@click.option(
    "--parity-tolerance",
    type=click.FloatRange(min=0, min_open=True),
    metavar="FLOAT",
    help="--format onnx: accept probabilities / values up to FLOAT away from scikit-learn's "
    "(labels may then differ); the measured difference is recorded in the manifest.",
)
@click.option(
    "--sample",
    type=click.Path(dir_okay=False),
    help="JSON lines of input records: 20 are kept with their predictions for the function's "
    "cold-start self-check (and --format onnx checks the graph on them).",
)
@click.option(
    "--trust",
    multiple=True,
    metavar="MODULE.NAME",
    help="A pickle global accepted beyond the allowlist, after you reviewed it (repeat); "
    "recorded in the manifest.",
)
@click.option("--description", default="", help="Free text stored in the manifest.")
@click.option(
    "--metrics",
    type=click.Path(dir_okay=False),
    help="JSON file of metrics to store in the manifest.",
)
@click.option(
    "--no-link", is_flag=True, help="Publish the layer version only; leave the function alone."
)
@click.option(
    "--store",
    type=click.Choice(["auto", "layer", "s3"], case_sensitive=False),
    help="Where the artifacts live: the layer, or S3 behind a manifest-only layer "
    "(default: [model] store, auto: the layer when it fits).",
)
@click.option(
    "--rollout",
    type=click.Choice(["all-at-once", "canary", "linear"]),
    help="Move the alias by steps, each judged on both versions' health, rolled back by "
    "itself on a failed gate (default: [rollout] strategy, all-at-once; needs [model] alias).",
)
@click.option(
    "--percent", type=float, help="canary: P% then 100%; linear: +P% per step ([rollout] percent)."
)
@click.option("--interval", help="How long each step is watched, e.g. 5m ([rollout] interval).")
@click.option(
    "--no-wait",
    is_flag=True,
    help="Start the rollout and return; `mlayer rollout resume` drives it.",
)
@click.option(
    "--shadow",
    is_flag=True,
    help="Attach the candidate beside the live model instead of relinking: it predicts the "
    "same batches ([model] shadow_sample of them), its answers compared and thrown away "
    "(`mlayer shadow status|promote|stop`).",
)
@relink_options
@pass_app
def publish_model(
    app: App, function_name, layer_name, no_link, yes, model, preprocessors, **fields
) -> None:
    """Publish MODEL (and its preprocessors) as a new model-layer version and relink the function.

    Without MODEL, the pipeline is [model] artifacts of mlayer.toml (preprocessors first, the
    model last). Publishing files already published reuses that version.
    """
    fields["trust"] = tuple(fields.get("trust") or ())
    fields["wait"] = not fields.pop("no_wait", False)
    request = PublishRequest(
        model=model, preprocessors=tuple(preprocessors), link=not no_link, **fields
    )
    settings = _model_settings(app, function_name, layer_name)
    app.emit(
        api.publish_model(settings, request, confirm=app.confirmer(yes), progress=app.progress())
    )


@cli.command()
@click.option(
    "--version", "version", type=click.IntRange(min=1), help="Model-layer version to relink."
)
@click.option("--previous", is_flag=True, help="The version before the live one.")
@relink_options
@pass_app
def rollback(app: App, function_name, layer_name, yes, **fields) -> None:
    """Relink another model-layer version (--version N or --previous): no code deploy, seconds."""
    settings = _model_settings(app, function_name, layer_name)
    result = api.rollback(settings, RollbackRequest(**fields), confirm=app.confirmer(yes))
    app.emit(result)


@cli.command()
@function_option("Function whose live version to mark.")
@layer_name_option
@click.option("--alias", help="Also mark the version live on this alias (default: [model] alias).")
@pass_app
def history(app: App, function_name, layer_name, alias) -> None:
    """Every model-layer version, newest first, and which one is live."""
    settings = _model_settings(app, function_name, layer_name)
    app.emit(api.history(settings, HistoryRequest(alias=alias)))


@cli.command()
@function_option("Function to describe (default: [function] name).")
@pass_app
def status(app: App, function_name) -> None:
    """The function's layers, their sizes, the budget left and its state.

    Exits 1 when the live model cannot start (an S3 object it needs is missing or changed)."""
    result = api.status(app.settings_with(function={"name": function_name}))
    app.emit(result)
    if not result.ok:  # --json: the same lines are its "problems"
        for problem in result.problems:
            click.echo(f"Error: {problem}", err=True)
        click.echo(
            "Hint: publish the same files again (the version is reused and its objects "
            "uploaded again), or `mlayer rollback` to a version whose objects exist.",
            err=True,
        )
        raise click.exceptions.Exit(1)
