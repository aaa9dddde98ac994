"""init, build-deps and deploy-function: setting up the function and its dependencies."""

from __future__ import annotations

import click

from mlayer import api
from mlayer.cli.app import App, pass_app
from mlayer.cli.group import cli
from mlayer.cli.options import (
    allow_version_mismatch_option,
    dry_run_option,
    function_option,
    yes_option,
)
from mlayer.config import ARCHITECTURES, BUILDERS, SUPPORTED_RUNTIMES
from mlayer.request_types import BuildDepsRequest, DeployRequest, InitRequest


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
    sections = dict(
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
    request = InitRequest(path=app.config_path or "mlayer.toml", force=force, sections=sections)
    app.emit(api.init_config(request))


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
@click.option(
    "--allow-missing-lib",
    "allow_missing_libs",
    multiple=True,
    metavar="SONAME",
    help="A shared library (e.g. libgomp.so.1) the layer's modules need that the function"
    " gets another way; by default a need Lambda's image and the layer cannot meet refuses"
    " the build. Repeatable.",
)
@yes_option("Publish without asking.")
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
    allow_missing_libs,
    yes,
) -> None:
    """Build (and publish) the dependencies layer: scikit-learn, numpy, scipy, joblib."""
    settings = app.settings_with(
        function={"runtime": runtime, "architecture": arch},
        deps={"requirements": requirements, "layer": layer_name, "builder": builder},
    )
    request = BuildDepsRequest(
        output=output,
        publish=publish,
        slim=not no_slim,
        compile=not no_compile,
        force=force,
        allow_missing_libs=tuple(allow_missing_libs),
    )
    result = api.build_deps(settings, request, progress=app.progress(), confirm=app.confirmer(yes))
    app.emit(result)


@cli.command("deploy-function")
@function_option("Function name (default: [function] name).")
@click.option("--runtime", type=click.Choice(SUPPORTED_RUNTIMES), help="Lambda runtime.")
@click.option("--arch", type=click.Choice(ARCHITECTURES), help="Architecture.")
@click.option("--role", help="IAM role ARN (default: [function] role).")
@click.option(
    "--create-role",
    is_flag=True,
    help="Create or update mlayer-<function> with the least-privilege policy of this "
    'configuration (as [function] role = "create"; see `mlayer policy --function`).',
)
@click.option("--stream", help="Kinesis stream name or ARN (default: [trigger] stream).")
@click.option(
    "--provisioned-concurrency",
    type=int,
    help="Environments kept initialized on the alias; 0 removes them "
    "(default: [function] provisioned_concurrency; needs [model] alias).",
)
@click.option(
    "--snapstart/--no-snapstart",
    default=None,
    help="SnapStart on published versions, python3.12+ "
    "(default: [function] snapstart; needs [model] alias).",
)
@allow_version_mismatch_option
@dry_run_option
@yes_option("Apply without asking.")
@pass_app
def deploy_function(
    app: App,
    function_name,
    runtime,
    arch,
    role,
    create_role,
    stream,
    provisioned_concurrency,
    snapstart,
    allow_version_mismatch,
    dry_run,
    yes,
) -> None:
    """Create or update the function (code from function/), its layers, its alias and its
    Kinesis trigger; a failed call says which state the function is in."""
    settings = app.settings_with(
        function={
            "name": function_name,
            "runtime": runtime,
            "architecture": arch,
            "role": role,
            "provisioned_concurrency": provisioned_concurrency,
            "snapstart": snapstart,
        },
        trigger={"stream": stream},
    )
    result = api.deploy_function(
        settings,
        DeployRequest(
            dry_run=dry_run,
            allow_version_mismatch=allow_version_mismatch,
            create_role=create_role,
        ),
        confirm=app.confirmer(yes),
    )
    app.emit(result)
