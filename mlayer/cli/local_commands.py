"""invoke, poll, local-aws and demo: running the function and the story on this machine."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from mlayer import api
from mlayer.cli.app import App, pass_app
from mlayer.cli.group import cli
from mlayer.request_types import InvokeRequest, PollRequest


@cli.command()
@click.option("--local", "local", is_flag=True, help="Run in mlayer's local Lambda emulation.")
@click.option(
    "--event",
    "event_file",
    type=click.Path(dir_okay=False),
    help="Event JSON file (e.g. from sam local generate-event).",
)
@click.option("--function", help="Function to invoke (default: [function] name).")
@click.option(
    "--s3",
    metavar="s3://BUCKET/KEY",
    help="Score this object: the S3 ObjectCreated event built from it, continuations included.",
)
@click.option(
    "--repeat",
    type=click.IntRange(1, 10000),
    default=1,
    show_default=True,
    help="Invocations on one warm container.",
)
@pass_app
def invoke(app: App, **fields) -> None:
    """Invoke the function once (or --repeat N times) and print the response and REPORT line."""
    step = app.progress()
    request = InvokeRequest(**fields)
    result = api.invoke(app.settings, request, on_log=lambda line: step(f"| {line}"))
    app.emit(result)
    if not result.ok:
        raise click.exceptions.Exit(1)


@cli.command()
@click.option(
    "--local", "local", is_flag=True, help="Run the function in mlayer's local Lambda emulation."
)
@click.option("--stream", help="Kinesis stream (default: [trigger] stream).")
@click.option("--function", help="Function to deliver to (default: [function] name).")
@click.option(
    "--batch-size",
    type=click.IntRange(1, 10000),
    help="Records per batch (default: [trigger] batch_size).",
)
@click.option("--max-batches", type=click.IntRange(1), help="Stop after this many batches.")
@click.option("--until-empty", is_flag=True, help="Stop when every shard is read to its end.")
@pass_app
def poll(app: App, **fields) -> None:
    """Play Lambda's Kinesis event-source mapping against a stream."""
    step = app.progress()
    request = PollRequest(**fields)
    if request.local and not request.until_empty and request.max_batches is None:
        step("polling until interrupted (Ctrl-C); --until-empty stops at the end of every shard")
    result = api.poll(app.settings, request, on_batch=lambda batch: step(batch.line()))
    app.emit(result)
    if not result.ok:  # records were given up (after retries or by age)
        raise click.exceptions.Exit(1)


@cli.command("local-aws")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    help="Port on 127.0.0.1 (default: a free one).",
)
@click.option(
    "--enforce-iam",
    is_flag=True,
    help="Check every request against IAM; prints a deployer holding exactly "
    "`mlayer policy --deployer` of this configuration (functions run with their role).",
)
@pass_app
def local_aws(app: App, port, enforce_iam) -> None:
    """Run the embedded AWS (moto's server) on 127.0.0.1 until interrupted (Ctrl-C or SIGTERM)."""
    import signal
    import time

    from mlayer.local.aws import embedded_aws

    def stop(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    with embedded_aws(port=port, isolated=True, enforce_iam=enforce_iam) as local:
        env, lines = local.env, local.export_lines()
        if enforce_iam:
            from mlayer.local.enforced import set_up

            principals = set_up(local, app.settings)
            env, lines = principals.env(local), principals.export_lines(local)
        if app.json_output:
            doc = {"endpoint_url": local.endpoint_url, "env": env}
            if enforce_iam:
                doc["administrator"] = principals.administrator
                doc["deployer_policy"] = principals.deployer_policy
            click.echo(json.dumps(doc, indent=2))
        else:
            click.echo(f"Embedded AWS listening on {local.endpoint_url}")
            if enforce_iam:
                keys = principals.administrator
                click.echo(
                    "IAM is enforced. Administrator (set-up only): "
                    f"{keys['AWS_ACCESS_KEY_ID']} / {keys['AWS_SECRET_ACCESS_KEY']}"
                )
                click.echo("The deployer (exactly `mlayer policy --deployer`), from another shell:")
            else:
                click.echo("Use it from another shell with:")
            for line in lines:
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
    from mlayer.demo.story import run_demo

    result = run_demo(workdir, records, say=lambda line: click.echo(line, err=app.json_output))
    app.emit(result)
    if not result.ok:
        raise click.exceptions.Exit(1)
