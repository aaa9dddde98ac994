"""The `mlayer` group: global options, and the one place where errors become exit codes.

2 for usage/config errors (nothing was attempted), 1 for operations that failed, 130 on Ctrl-C.
"""

from __future__ import annotations

import json
import sys
import traceback
from typing import Any

import click

from mlayer import __version__
from mlayer.cli.app import App
from mlayer.errors import MlayerError


def show_usage_error(exc: click.UsageError, json_output: bool) -> None:
    """click's own usage errors (bad flag, bad value) in mlayer's shape: Error, Hint, JSON."""
    command = exc.ctx.command_path if exc.ctx is not None else "mlayer"
    message, hint = exc.format_message(), f"Run `{command} --help` for its options."
    if json_output:
        click.echo(json.dumps({"error": "UsageError", "message": message, "hint": hint}, indent=2))
    if exc.ctx is not None:
        click.echo(exc.ctx.get_usage(), err=True)
    click.echo(f"Error: {message}", err=True)
    click.echo(f"Hint: {hint}", err=True)


class MlayerGroup(click.Group):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        json_output = "--json" in args  # before click's parser consumes the list
        try:
            return super().parse_args(ctx, args)
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.UsageError as exc:
            show_usage_error(exc, json_output)
            ctx.exit(exc.exit_code)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            # An unknown command fails before the group's callback: ctx.obj is not set yet.
            show_usage_error(exc, bool(ctx.params.get("json_output")))
            ctx.exit(exc.exit_code)
        except MlayerError as exc:
            app = ctx.obj if isinstance(ctx.obj, App) else None
            if app is not None and app.verbose:
                traceback.print_exc(file=sys.stderr)
            if app is not None and app.json_output:
                click.echo(json.dumps(exc.to_dict(), indent=2))
            click.echo(f"Error: {exc.message}", err=True)
            if exc.hint:
                click.echo(f"Hint: {exc.hint}", err=True)
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(130)
        except Exception as exc:
            app = ctx.obj if isinstance(ctx.obj, App) else None
            if app is not None and app.verbose:
                traceback.print_exc(file=sys.stderr)
            click.echo(f"Error: unexpected {type(exc).__name__}: {exc}", err=True)
            click.echo(
                "Hint: run again with --verbose for the traceback, and report it as a bug.",
                err=True,
            )
            ctx.exit(1)


@click.group(
    name="mlayer",
    cls=MlayerGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="mlayer")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="mlayer.toml to read (default: ./mlayer.toml if present).",
)
@click.option(
    "--region",
    envvar="AWS_REGION",
    default=None,
    help="AWS region (default: AWS_REGION, the profile's).",
)
@click.option(
    "--profile",
    envvar="AWS_PROFILE",
    default=None,
    help="AWS profile from ~/.aws (default: AWS_PROFILE).",
)
@click.option(
    "--endpoint-url",
    envvar="AWS_ENDPOINT_URL",
    default=None,
    help="AWS endpoint, e.g. the embedded AWS of `mlayer local-aws` (default: AWS_ENDPOINT_URL).",
)
@click.option("--json", "json_output", is_flag=True, help="Machine-readable JSON on stdout.")
@click.option("-v", "--verbose", is_flag=True, help="More detail, and tracebacks on errors.")
@click.pass_context
def cli(
    ctx: click.Context, config_path, region, profile, endpoint_url, json_output, verbose
) -> None:
    """Deploy scikit-learn models to AWS Lambda as versioned layers."""
    ctx.obj = App(config_path, region, profile, endpoint_url, json_output, verbose)
