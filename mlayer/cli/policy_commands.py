"""policy: the least-privilege IAM documents of this configuration."""

from __future__ import annotations

import click

from mlayer import api
from mlayer.cli.app import App, pass_app
from mlayer.cli.group import cli


@cli.command()
@click.option(
    "--function",
    "which",
    flag_value="function",
    default=True,
    help="The function's execution role policy (the default).",
)
@click.option(
    "--deployer",
    "which",
    flag_value="deployer",
    help="What a person or CI needs to run every mlayer command for this configuration.",
)
@click.option(
    "--account",
    help="Account id for the ARNs (default: the caller's, from STS).",
)
@pass_app
def policy(app: App, which: str, account: str | None) -> None:
    """Print an IAM policy for this configuration: every statement on exact ARNs."""
    app.emit(api.policy(app.settings, which, account=account))
