"""The mlayer command line: parse -> one library call -> render.

The only module that imports click. Errors are mapped to exit codes in one place
(``MlayerGroup.invoke``): 2 for usage/config errors, 1 for operations that failed.
"""

from __future__ import annotations

import json
import re
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import click

from mlayer import __version__, api, report
from mlayer.config import ARCHITECTURES, BUILDERS, SUPPORTED_RUNTIMES, Settings, load_settings
from mlayer.errors import MlayerError, UsageError


@dataclass
class App:
    """What the global options give every command; settings load lazily (init needs none)."""

    config_path: str | None
    region: str | None
    profile: str | None
    endpoint_url: str | None
    json_output: bool
    verbose: bool
    _settings: Settings | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(
                self.config_path,
                region=self.region,
                profile=self.profile,
                endpoint_url=self.endpoint_url,
            )
        return self._settings

    def settings_with(self, **sections: dict[str, Any]) -> Settings:
        """Settings with this command's flags applied on top (None = flag not given)."""
        return self.settings.with_overrides(**sections)

    def emit(self, result: Any, text: Callable[[Any], str] | None = None) -> None:
        """Print a result: JSON on stdout with --json, else the human rendering."""
        if self.json_output:
            click.echo(json.dumps(report.to_jsonable(result), indent=2, sort_keys=True))
            return
        for warning in getattr(result, "warnings", ()) or ():
            click.echo(f"Warning: {warning}", err=True)
        click.echo(text(result) if text else report.render(result))

    def progress(self) -> Callable[[str], None]:
        """A step reporter for long work, on stderr so that --json stdout stays clean.

        A message ending in ``NN%`` is a bar: redrawn in place on a terminal, and shown only
        at each quarter in a log, so a 200 MB upload is not 100 lines.
        """
        tty = sys.stderr.isatty()
        state = {"bar": "", "shown": -1}

        def step(message: str) -> None:
            if self.json_output and not self.verbose:
                return
            match = _PERCENT.match(message)
            if match is None:
                if state["bar"] and tty:
                    click.echo("", err=True)
                state["bar"] = ""
                click.echo(f"  {message}", err=True)
                return
            label, pct = match.group(1), min(int(match.group(2)), 100)
            if label != state["bar"]:
                if state["bar"] and tty:
                    click.echo("", err=True)
                state["bar"], state["shown"] = label, -1
            if tty:
                filled = pct * 30 // 100
                click.echo(
                    f"\r  {label} [{'#' * filled}{'.' * (30 - filled)}] {pct:3d}%",
                    err=True,
                    nl=pct >= 100,
                )
            elif pct // 25 > state["shown"]:
                state["shown"] = pct // 25
                click.echo(f"  {label} {pct}%", err=True)

        return step


def confirm(app: App, question: str, yes: bool) -> None:
    """Ask before a change; without a terminal, only --yes lets it happen."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError(
            f"{question} Refusing without confirmation: standard input is not a terminal.",
            "Pass --yes to confirm (commands that change something also take --dry-run).",
        )
    if not click.confirm(question, default=False, err=True):
        raise UsageError("Cancelled; nothing was changed.", "Pass --yes to skip the question.")


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


pass_app = click.make_pass_decorator(App)
_PERCENT = re.compile(r"^(.*?)\s+(\d{1,3})%$")


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


# -- init ---------------------------------------------------------------------------------------
@cli.command()
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.option("--function", "function_name", help="Lambda function name.")
@click.option("--runtime", type=click.Choice(SUPPORTED_RUNTIMES), help="Lambda Python runtime.")
@click.option("--arch", type=click.Choice(ARCHITECTURES), help="Lambda architecture.")
@click.option("--memory", type=int, help="Function memory in MB (128..10240).")
@click.option("--timeout", type=int, help="Function timeout in s (1..900).")
@click.option("--role", help="IAM role ARN for the function.")
@click.option("--requirements", help="Requirements file of the dependencies layer.")
@click.option("--deps-layer", help="Name of the dependencies layer.")
@click.option("--model-layer", help="Name of the model layer.")
@click.option(
    "--artifact",
    "artifacts",
    multiple=True,
    help="Pipeline artifact, in order (repeat; the model last).",
)
@click.option("--bucket", help="S3 bucket for layer zips, locks and manifests.")
@click.option("--stream", help="Kinesis stream (name or ARN) that triggers the function.")
@click.option(
    "--sink",
    help="Where predictions go: dynamodb://T | s3://B/P | kinesis://S | sqs://Q | stdout://",
)
@click.option("--dead-letter", help="Where bad records go: sqs://Q | s3://B/P")
@pass_app
def init(
    app: App,
    force,
    function_name,
    runtime,
    arch,
    memory,
    timeout,
    role,
    requirements,
    deps_layer,
    model_layer,
    artifacts,
    bucket,
    stream,
    sink,
    dead_letter,
) -> None:
    """Write a commented mlayer.toml from flags and defaults."""
    result = api.init_config(
        app.config_path or "mlayer.toml",
        force=force,
        function={
            "name": function_name,
            "runtime": runtime,
            "architecture": arch,
            "memory": memory,
            "timeout": timeout,
            "role": role,
        },
        deps={"requirements": requirements, "layer": deps_layer},
        model={"layer": model_layer, "artifacts": list(artifacts) or None},
        artifacts={"bucket": bucket},
        trigger={"stream": stream},
        output={"sink": sink, "dead_letter": dead_letter},
    )
    app.emit(result)


# -- build-deps -----------------------------------------------------------------------------------
@cli.command("build-deps")
@click.option(
    "--requirements",
    type=click.Path(resolve_path=True),
    help="Requirements file (default: [deps] requirements).",
)
@click.option("--runtime", type=click.Choice(SUPPORTED_RUNTIMES), help="Target Lambda runtime.")
@click.option("--arch", type=click.Choice(ARCHITECTURES), help="Target architecture.")
@click.option(
    "--builder", type=click.Choice(BUILDERS), help="auto: docker when an engine answers, else pip."
)
@click.option(
    "--output",
    default="build",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where the zip lands.",
)
@click.option("--publish", is_flag=True, help="Publish the layer after building it.")
@click.option("--layer-name", help="Layer name (default: [deps] layer).")
@click.option("--no-slim", is_flag=True, help="Keep tests, sources and debug symbols.")
@click.option("--no-compile", is_flag=True, help="Ship no precompiled bytecode.")
@click.option("--force", is_flag=True, help="Rebuild even when the build cache has this layer.")
@click.option("--yes", is_flag=True, help="Publish without asking.")
@pass_app
def build_deps(
    app: App,
    requirements,
    runtime,
    arch,
    builder,
    output,
    publish,
    layer_name,
    no_slim,
    no_compile,
    force,
    yes,
) -> None:
    """Build (and publish) the dependencies layer: scikit-learn, numpy, scipy, joblib."""
    settings = app.settings_with(
        function={"runtime": runtime, "architecture": arch},
        deps={"requirements": requirements, "layer": layer_name, "builder": builder},
    )
    result = api.build_deps(
        settings,
        output=output,
        publish=publish,
        slim=not no_slim,
        compile=not no_compile,
        force=force,
        progress=app.progress(),
        confirm=lambda question: confirm(app, question, yes),
    )
    app.emit(result, report.render_build_deps)


# -- publish-model / rollback / history / status -------------------------------------------------
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
    type=click.Choice(["text", "features", "record"]),
    help="What records carry.",
)
@click.option("--description", default="", help="Free text stored in the manifest.")
@click.option(
    "--metrics",
    type=click.Path(dir_okay=False),
    help="JSON file of metrics to store in the manifest.",
)
@click.option("--function", "function_name", help="Function to relink (default: [function] name).")
@click.option("--layer-name", help="Model layer name (default: [model] layer).")
@click.option(
    "--alias",
    help="Also publish a function version and move this alias to it (default: [model] alias).",
)
@click.option(
    "--no-link", is_flag=True, help="Publish the layer version only; leave the function alone."
)
@click.option(
    "--allow-version-mismatch",
    is_flag=True,
    help="Publish even if scikit-learn versions differ (unsafe).",
)
@click.option("--dry-run", is_flag=True, help="Show the plan and change nothing.")
@click.option("--yes", is_flag=True, help="Relink without asking.")
@pass_app
def publish_model(
    app: App,
    model,
    preprocessors,
    code_files,
    label,
    input_kind,
    description,
    metrics,
    function_name,
    layer_name,
    alias,
    no_link,
    allow_version_mismatch,
    dry_run,
    yes,
) -> None:
    """Publish MODEL (and its preprocessors) as a new model-layer version and relink the function.

    Without MODEL, the pipeline is [model] artifacts of mlayer.toml (preprocessors first, the
    model last). Publishing files already published reuses that version.
    """
    settings = app.settings_with(function={"name": function_name}, model={"layer": layer_name})
    result = api.publish_model(
        settings,
        model,
        preprocessors,
        code_files=code_files,
        label=label,
        input_kind=input_kind,
        description=description,
        metrics=metrics,
        alias=alias,
        link=not no_link,
        allow_version_mismatch=allow_version_mismatch,
        dry_run=dry_run,
        confirm=lambda question: confirm(app, question, yes),
    )
    app.emit(result)


@cli.command()
@click.option(
    "--version", "version", type=click.IntRange(min=1), help="Model-layer version to relink."
)
@click.option("--previous", is_flag=True, help="The version before the live one.")
@click.option("--function", "function_name", help="Function to relink (default: [function] name).")
@click.option("--layer-name", help="Model layer name (default: [model] layer).")
@click.option(
    "--alias",
    help="Also publish a function version and move this alias to it (default: [model] alias).",
)
@click.option(
    "--allow-version-mismatch",
    is_flag=True,
    help="Relink even if the version was pickled with another scikit-learn than the deps layer's (unsafe).",
)
@click.option("--dry-run", is_flag=True, help="Show the plan and change nothing.")
@click.option("--yes", is_flag=True, help="Relink without asking.")
@pass_app
def rollback(
    app: App,
    version,
    previous,
    function_name,
    layer_name,
    alias,
    allow_version_mismatch,
    dry_run,
    yes,
) -> None:
    """Relink another model-layer version (--version N or --previous): no code deploy, seconds."""
    settings = app.settings_with(function={"name": function_name}, model={"layer": layer_name})
    result = api.rollback(
        settings,
        version=version,
        previous=previous,
        alias=alias,
        allow_version_mismatch=allow_version_mismatch,
        dry_run=dry_run,
        confirm=lambda question: confirm(app, question, yes),
    )
    app.emit(result)


@cli.command()
@click.option("--function", "function_name", help="Function whose live version to mark.")
@click.option("--layer-name", help="Model layer name (default: [model] layer).")
@click.option("--alias", help="Also mark the version live on this alias (default: [model] alias).")
@pass_app
def history(app: App, function_name, layer_name, alias) -> None:
    """Every model-layer version, newest first, and which one is live."""
    settings = app.settings_with(function={"name": function_name}, model={"layer": layer_name})
    app.emit(api.history(settings, alias=alias))


@cli.command()
@click.option(
    "--function", "function_name", help="Function to describe (default: [function] name)."
)
@pass_app
def status(app: App, function_name) -> None:
    """The function's layers, their sizes, the budget left and its state."""
    settings = app.settings_with(function={"name": function_name})
    app.emit(api.status(settings))


# -- deploy-function --------------------------------------------------------------------------------
@cli.command("deploy-function")
@click.option("--function", "function_name", help="Function name (default: [function] name).")
@click.option("--runtime", type=click.Choice(SUPPORTED_RUNTIMES), help="Lambda runtime.")
@click.option("--arch", type=click.Choice(ARCHITECTURES), help="Architecture.")
@click.option("--role", help="IAM role ARN (default: [function] role).")
@click.option("--stream", help="Kinesis stream name or ARN (default: [trigger] stream).")
@click.option("--dry-run", is_flag=True, help="Show the plan and change nothing.")
@click.option("--yes", is_flag=True, help="Apply without asking.")
@pass_app
def deploy_function(app: App, function_name, runtime, arch, role, stream, dry_run, yes) -> None:
    """Create or update the function (code from function/), its layers and its Kinesis trigger."""
    settings = app.settings_with(
        function={"name": function_name, "runtime": runtime, "architecture": arch, "role": role},
        trigger={"stream": stream},
    )
    result = api.deploy_function(
        settings, dry_run=dry_run, confirm=lambda question: confirm(app, question, yes)
    )
    app.emit(result)


# -- local emulation ------------------------------------------------------------------------------
@cli.command()
@click.option("--local", "local", is_flag=True, help="Run in mlayer's local Lambda emulation.")
@click.option(
    "--event",
    "event_file",
    type=click.Path(dir_okay=False),
    help="Event JSON file (e.g. from sam local generate-event).",
)
@click.option("--function", "function_name", help="Function to invoke (default: [function] name).")
@click.option(
    "--repeat",
    type=click.IntRange(1, 10000),
    default=1,
    show_default=True,
    help="Invocations on one warm container.",
)
@pass_app
def invoke(app: App, local, event_file, function_name, repeat) -> None:
    """Invoke the function once (or --repeat N times) and print the response and REPORT line."""
    step = app.progress()
    result = api.invoke(
        app.settings,
        event_file=event_file,
        function=function_name,
        repeat=repeat,
        local=local,
        on_log=lambda line: step(f"| {line}"),
    )
    app.emit(result)
    if not result.ok:
        raise click.exceptions.Exit(1)


@cli.command()
@click.option(
    "--local", "local", is_flag=True, help="Run the function in mlayer's local Lambda emulation."
)
@click.option("--stream", help="Kinesis stream (default: [trigger] stream).")
@click.option(
    "--function", "function_name", help="Function to deliver to (default: [function] name)."
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 10000),
    help="Records per batch (default: [trigger] batch_size).",
)
@click.option("--max-batches", type=click.IntRange(1), help="Stop after this many batches.")
@click.option("--until-empty", is_flag=True, help="Stop when every shard is read to its end.")
@pass_app
def poll(app: App, local, stream, function_name, batch_size, max_batches, until_empty) -> None:
    """Play Lambda's Kinesis event-source mapping against a stream."""
    step = app.progress()
    if local and not until_empty and max_batches is None:
        step("polling until interrupted (Ctrl-C); --until-empty stops at the end of every shard")
    result = api.poll(
        app.settings,
        stream=stream,
        function=function_name,
        batch_size=batch_size,
        max_batches=max_batches,
        until_empty=until_empty,
        local=local,
        on_batch=lambda batch: step(batch.line()),
    )
    app.emit(result)


@cli.command("local-aws")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    help="Port on 127.0.0.1 (default: a free one).",
)
@pass_app
def local_aws(app: App, port) -> None:
    """Run the embedded AWS (moto's server) on 127.0.0.1 until interrupted (Ctrl-C or SIGTERM)."""
    import signal
    import time

    from mlayer.local.aws import embedded_aws

    def stop(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    with embedded_aws(port=port, isolated=True) as local:
        if app.json_output:
            click.echo(json.dumps({"endpoint_url": local.endpoint_url, "env": local.env}, indent=2))
        else:
            click.echo(f"Embedded AWS listening on {local.endpoint_url}")
            click.echo("Use it from another shell with:")
            for line in local.export_lines():
                click.echo(f"  {line}")
            click.echo("Press Ctrl-C to stop.")
        sys.stdout.flush()
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            click.echo("Stopped.", err=True)


@cli.command()
@click.option(
    "--workdir",
    type=click.Path(file_okay=False),
    help="Folder for the demo's files (default: a temp dir).",
)
@click.option(
    "--records",
    type=click.IntRange(10, 100000),
    default=300,
    show_default=True,
    help="Records to put on the stream.",
)
@pass_app
def demo(app: App, workdir, records) -> None:
    """The whole story on the embedded AWS: build, deploy, publish, predict, roll back."""
    from mlayer.demo import run_demo

    result = run_demo(workdir, records, say=lambda line: click.echo(line, err=app.json_output))
    app.emit(result)
    if not result.ok:
        raise click.exceptions.Exit(1)


def main() -> None:
    cli(prog_name="mlayer")


if __name__ == "__main__":
    main()
