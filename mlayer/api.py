"""One entry point per command: a request in, a typed result out; never prints.

This is where side effects are wired: the Gateway (from the settings unless one is given), the
subprocess runner, ``confirm`` (default: go ahead). The work itself is in the command modules:
build_deps.py, publish.py, rollback.py, views/history.py, views/status.py, deploy.py,
local/invoke_command.py and local/poll_command.py.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlayer.config import Settings, render_toml, with_overrides
from mlayer.errors import UsageError
from mlayer.request_types import (
    BuildDepsRequest,
    DeployRequest,
    HistoryRequest,
    InitRequest,
    InvokeRequest,
    PollRequest,
    PruneRequest,
    PublishRequest,
    RollbackRequest,
    RolloutRequest,
)
from mlayer.results.build_deps import BuildDepsResult
from mlayer.results.init import InitResult

if TYPE_CHECKING:  # imported lazily at run time: `mlayer --help` stays fast
    from mlayer.local.invoke_summary import InvokeSummary
    from mlayer.local.poll_command import PollSummary
    from mlayer.results.deploy import DeployResult
    from mlayer.results.history import HistoryResult
    from mlayer.results.policy import PolicyResult
    from mlayer.results.prune import PruneResult
    from mlayer.results.publish import PublishResult
    from mlayer.results.rollback import RollbackResult
    from mlayer.results.rollout import RolloutResult
    from mlayer.results.shadow import ShadowAttachResult
    from mlayer.results.status import StatusResult

Confirm = Callable[[str], None]


def _go_ahead(question: str) -> None:
    return None


def _gateway(settings: Settings, gateway: Any = None) -> Any:
    from mlayer.gateway import Gateway

    return gateway if gateway is not None else Gateway.from_settings(settings)


def _ready(settings: Settings, gateway: Any = None) -> tuple[Any, Settings]:
    """The gateway, and the settings with the artifact bucket named (its default needs the account)."""
    gw = _gateway(settings, gateway)
    return gw, settings.with_bucket(gw.artifact_bucket(settings.artifacts.bucket))


def init_config(request: InitRequest) -> InitResult:
    """Write a commented mlayer.toml from flags over defaults; refuse to overwrite unless forced."""
    target = Path(request.path)
    existed = target.exists()
    if existed and not request.force:
        raise UsageError(
            f"{target} already exists.", "Pass --force to overwrite it, or edit it by hand."
        )
    settings = with_overrides(
        Settings(source=str(target), root=target.resolve().parent), **request.sections
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_toml(settings), encoding="utf-8")
    return InitResult(path=target, overwritten=existed, settings=settings.to_dict())


def build_deps(
    settings: Settings,
    request: BuildDepsRequest | None = None,
    *,
    progress: Callable[[str], None] | None = None,
    confirm: Confirm | None = None,
    runner: Any = None,
    gateway: Any = None,
    **fields: Any,
) -> BuildDepsResult:
    """Build (and with ``publish``, publish) the dependencies layer (see build_deps.py).

    ``fields`` build the request when none is given (``api.build_deps(settings, publish=True)``).
    """
    from mlayer.build import command
    from mlayer.build.runner import run_subprocess

    return command.build_deps(
        settings,
        request or BuildDepsRequest(**fields),
        progress=progress,
        confirm=confirm or _go_ahead,
        runner=runner or run_subprocess,
        gateway=lambda: _gateway(settings, gateway),
    )


def publish_model(
    settings: Settings,
    request: PublishRequest,
    *,
    confirm: Confirm | None = None,
    gateway: Any = None,
    progress: Callable[[str], None] | None = None,
) -> PublishResult | RolloutResult | ShadowAttachResult:
    """Publish a model-layer version and relink the function (a PublishResult; see publish.py);
    with --rollout, the rollout that moves the alias (RolloutResult, its ``publish`` inside);
    with --shadow, the candidate attached beside the live model (ShadowAttachResult).

    ``confirm(question)`` is called once, after planning and before the first write; it raises
    to cancel.
    """
    from mlayer.publishing import publish

    gw, settings = _ready(settings, gateway)
    if request.shadow:  # the candidate beside the live model (mlayer/shadow/attach.py)
        from mlayer.shadow.attach import publish_shadow

        return publish_shadow(
            gw, settings, request, publish=publish.publish_model, confirm=confirm or _go_ahead
        )
    if (request.rollout or settings.rollout.strategy) != "all-at-once":
        from mlayer.rollout.publishing import publish_with_rollout

        return publish_with_rollout(
            gw,
            settings,
            request,
            publish=publish.publish_model,
            confirm=confirm or _go_ahead,
            progress=progress or (lambda _line: None),
        )
    return publish.publish_model(gw, settings, request, confirm=confirm or _go_ahead)


def rollout(
    settings: Settings,
    request: RolloutRequest,
    *,
    gateway: Any = None,
    progress: Callable[[str], None] | None = None,
) -> Any:
    """`mlayer rollout status|resume|abort` (a RolloutStatusResult)."""
    from mlayer.rollout.commands import rollout_command

    gw, settings = _ready(settings, gateway)
    return rollout_command(gw, settings, request, progress=progress or (lambda _line: None))


def shadow(
    settings: Settings,
    request: Any,
    *,
    confirm: Confirm | None = None,
    gateway: Any = None,
) -> Any:
    """`mlayer shadow status|promote|stop` (mlayer/shadow/commands.py)."""
    from mlayer.publishing import rollback as relink
    from mlayer.shadow import commands

    gw, settings = _ready(settings, gateway)
    if request.action == "status":
        return commands.shadow_status(gw, settings, request.window_s)
    go = confirm or _go_ahead
    if request.action == "stop":
        return commands.stop(gw, settings, request, confirm=go)
    return commands.promote(gw, settings, request, rollback=relink.rollback, confirm=go)


def rollback(
    settings: Settings,
    request: RollbackRequest,
    *,
    confirm: Confirm | None = None,
    gateway: Any = None,
) -> RollbackResult:
    """Relink an existing model-layer version (a RollbackResult; see rollback.py)."""
    from mlayer.publishing import rollback as command

    gw, settings = _ready(settings, gateway)
    return command.rollback(gw, settings, request, confirm=confirm or _go_ahead)


def policy(
    settings: Settings, which: str, *, account: str | None = None, gateway: Any = None
) -> PolicyResult:
    """The configuration's IAM policy: ``function`` (its role) or ``deployer`` (a PolicyResult)."""
    from mlayer.deploying import role
    from mlayer.results.policy import PolicyResult

    gw, settings = _ready(settings, gateway)
    keys = role.stream_keys(gw, settings) if which == "function" else None
    described = role.described_keys(gw, settings) if which == "deployer" else None
    docs = role.policy_documents(gw, settings, account=account, keys=keys, described=described)
    return PolicyResult(which, docs[which])


def history(
    settings: Settings, request: HistoryRequest | None = None, *, gateway: Any = None
) -> HistoryResult:
    """Every model-layer version, newest first, with which one is live (a HistoryResult)."""
    from mlayer.views import history as view

    gw, settings = _ready(settings, gateway)
    return view.history(gw, settings, request or HistoryRequest())


def prune(
    settings: Settings,
    request: PruneRequest,
    *,
    confirm: Confirm | None = None,
    show: Callable[[str], None] | None = None,
    progress: Callable[[str], None] | None = None,
    gateway: Any = None,
    now: Any = None,
) -> PruneResult:
    """Delete old function versions, model layer versions and artifacts nothing needs (a
    PruneResult; see prune.py). ``show(plan)`` precedes ``confirm``; ``now`` moves the clock."""
    import datetime as _dt

    from mlayer.prune import command

    gw, settings = _ready(settings, gateway)
    return command.prune(
        gw,
        settings,
        request,
        now=now or _dt.datetime.now(_dt.timezone.utc),
        confirm=confirm or _go_ahead,
        show=show,
        progress=progress,
    )


def status(settings: Settings, *, gateway: Any = None) -> StatusResult:
    """The function's layers, sizes, budget left and update state (a StatusResult)."""
    from mlayer.views import status as view

    gw, settings = _ready(settings, gateway)
    return view.status(gw, settings)


def deploy_function(
    settings: Settings,
    request: DeployRequest | None = None,
    *,
    confirm: Confirm | None = None,
    gateway: Any = None,
) -> DeployResult:
    """Create or update the function, its layers and its Kinesis trigger (a DeployResult).

    ``confirm(question)`` is called once, after planning and only when something will change.
    """
    import tempfile

    from mlayer.deploying import deploy

    gw, settings = _ready(settings, gateway)
    with tempfile.TemporaryDirectory(prefix="mlayer-deploy-") as tmp:
        return deploy.deploy_function(
            gw,
            settings,
            request or DeployRequest(),
            workdir=Path(tmp),
            confirm=confirm or _go_ahead,
        )


def invoke(
    settings: Settings,
    request: InvokeRequest,
    *,
    on_log: Callable[[str], None] | None = None,
    gateway: Any = None,
) -> InvokeSummary:
    """One invocation (or ``repeat`` on one warm container) of the function, locally or on Lambda."""
    from mlayer.local import invoke_command

    gw = _gateway(settings, gateway)
    return invoke_command.invoke_request(gw, settings, request, on_log=on_log)


def poll(
    settings: Settings,
    request: PollRequest,
    *,
    on_batch: Callable[[Any], None] | None = None,
    gateway: Any = None,
) -> PollSummary:
    """Play the Kinesis event-source mapping locally: the stream's records -> the emulated function."""
    from mlayer.local import poll_command

    poll_command.require_local(request)
    gw, settings = _ready(settings, gateway)
    return poll_command.poll_request(gw, settings, request, on_batch=on_batch)
