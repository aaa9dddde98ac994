"""Apply deploy-function's plan in the order that keeps the function working, and say where it
stopped.

One read, one plan, one chain of RevisionIds: the first write carries the RevisionId of the read
the plan came from, so a relink (or another deploy) landing after that read makes AWS answer 412
PreconditionFailed instead of being undone. Each later write carries the RevisionId of the state
our own previous write produced, read back once it landed and checked to be ours (the layers and
code we wrote), so nobody's change slips in between two of our calls either.

The order, and why:
1. configuration (layers, environment, memory, timeout, role, /tmp, SnapStart) first: old code
   runs with new settings (it ignores variables it does not know, and the deps layer was checked
   against the live model), while new code might need them. This is the only call that carries
   Layers, and it carries the plan's own RevisionId.
2. code (and Architectures) second: an UpdateFunctionCode cannot undo anyone's layers.
3. the handler last, alone, only when it changes (a layout change of the code): old code and a
   new handler (or the reverse) cannot start, so that window is the last call, never the one
   that uploads.
4. with an alias: publish $LATEST as a version and move the alias (its RevisionId), then its
   provisioned concurrency: until then the alias, which the trigger invokes, serves the old
   version whole, so steps 1-3 are never seen by a record.
5. the trigger last: it points at what is now complete.
A failure stops there with DeployIncompleteError: the state the function is in and the command
that completes it (re-running deploy-function plans from that state and does only the rest).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlayer.deploying.deploy_plan import AliasPlan, FunctionPlan, TriggerPlan
from mlayer.deploying.deploy_progress import LOST_ANSWER, Progress, state_facts
from mlayer.errors import AwsError, ConflictError, MlayerError
from mlayer.gateway import Gateway
from mlayer.gateway.views import TMP_KEY, FunctionConfig
from mlayer.publishing.relink import Relinker


class Applier:
    """The writes of one deploy, each guarded by the RevisionId of the state before it."""

    def __init__(self, gw: Gateway, relinker: Relinker, read: FunctionConfig | None) -> None:
        self.gw = gw
        self.relinker = relinker
        self.revision = read.revision_id if read else None
        # Called as soon as AWS accepted a write: from then on the function is in the step's
        # state, even if waiting for it or checking it fails.
        self.written: Callable[[], None] = lambda: None
        self.sending = False  # a write is out: a lost answer leaves its effect unknown

    def write(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """One write; ``written`` once AWS accepted it."""
        self.sending = True
        out = call(*args, **kwargs)
        self.sending = False
        self.written()
        return out

    def _landed(self, name: str, expect: Callable[[FunctionConfig], bool]) -> FunctionConfig:
        """Wait for our update; the state must be ours, or someone else wrote in between."""
        config = self.relinker.wait_successful(name)
        if not expect(config):
            raise ConflictError(
                f"{name} changed while deploy-function was updating it.", "", "Changed"
            )
        self.revision = config.revision_id
        return config

    def create(self, fplan: FunctionPlan, code: bytes, description: str) -> FunctionConfig:
        created: FunctionConfig = self.write(
            self.gw.create_function_from, fplan.name, fplan.desired, code, description
        )
        config = self.relinker.wait_updatable(fplan.name)
        self.revision = config.revision_id
        return created

    def configure(self, fplan: FunctionPlan, keys: list[str]) -> None:
        self.write(
            self.gw.configure_function, fplan.name, fplan.desired, keys, revision_id=self.revision
        )
        # What we sent must be what landed (SnapStart and /tmp left out: the embedded AWS
        # reports neither back).
        checked = [k for k in keys if k not in ("SnapStart", TMP_KEY)]
        self._landed(fplan.name, lambda c: fplan.desired.agrees(c, checked))

    def code(self, fplan: FunctionPlan, code: bytes, code_sha: str) -> None:
        self.write(
            self.gw.update_function_code,
            fplan.name,
            code,
            architectures=list(fplan.desired.architectures),
            revision_id=self.revision,
        )
        self._landed(fplan.name, lambda c: not c.code_sha256 or c.code_sha256 == code_sha)

    def publish(self, name: str, aplan: AliasPlan) -> str:
        """Publish $LATEST (its RevisionId), wait until the version is Active (a SnapStart
        snapshot is taken then; an answer that says Active needs no read), and point the alias
        at it: created when the plan's read found none, else moved with that read's RevisionId
        (an alias made or changed since then is someone else's: AWS refuses, nothing undone)."""
        published = self.gw.publish_version(
            name, description="mlayer deploy-function", revision_id=self.revision
        )
        version = str(published.version)
        if published.state not in (None, "Active"):
            self.wait_version(name, version)
        if aplan.version is None:
            self.write(self.gw.create_alias, name, aplan.alias, version)
        else:
            self.write(
                self.gw.update_alias, name, aplan.alias, version, revision_id=aplan.revision_id
            )
        return version

    def wait_version(self, name: str, version: str) -> None:
        deadline = self.gw.clock() + self.relinker.timeout
        while True:
            config = self.gw.function_config(name, qualifier=version)
            state = config.state
            if state in (None, "Active"):
                return
            if state == "Failed":
                raise AwsError(
                    f"Version {version} of {name} failed to become active: "
                    f"{config.state_reason_code}: {config.state_reason}",
                    "Fix the cause above (a SnapStart snapshot that failed in the before-snapshot "
                    "hook shows its error in the function's logs).",
                    config.state_reason_code or "Failed",
                )
            if self.gw.clock() > deadline:
                raise AwsError(
                    f"Version {version} of {name} is still {state} after "
                    f"{self.relinker.timeout:.0f} s.",
                    "Check the function's logs (a SnapStart snapshot can take minutes).",
                    "Timeout",
                )
            self.gw.sleep(self.relinker.poll)

    def provisioned(self, name: str, aplan: AliasPlan) -> None:
        if aplan.pc_after > 0:
            self.write(self.gw.put_provisioned_concurrency, name, aplan.alias, aplan.pc_after)
        else:
            self.write(self.gw.delete_provisioned_concurrency, name, aplan.alias)


def apply_trigger(gw: Gateway, tplan: TriggerPlan, target: str) -> str:
    """Create the mapping, or update what differs (re-pointing it at ``target``); its UUID."""
    if tplan.create:
        return gw.create_mapping(tplan.stream_arn, target, tplan.desired)
    uuid = tplan.uuid or ""
    if tplan.changes:
        gw.update_mapping(uuid, tplan.desired, [c.key for c in tplan.changes], target)
    return uuid


@dataclass(frozen=True)
class FunctionSteps:
    """Which of the function's writes (steps 1-3 above) a plan needs."""

    keys: list[str]  # step 1's configuration keys (the handler too when the code stays)
    code: bool  # step 2: code or Architectures changed
    handler: bool  # step 3: the handler alone, after the code


def function_steps(fplan: FunctionPlan) -> FunctionSteps:
    keys = [c.key for c in fplan.changes if c.key not in ("Architectures", "Handler")]
    handler = any(c.key == "Handler" for c in fplan.changes)
    code_step = fplan.code_changed or any(c.key == "Architectures" for c in fplan.changes)
    if handler and not code_step:
        keys.append("Handler")  # no code change: the handler goes with the rest
    return FunctionSteps(keys, code_step, handler and code_step)


@dataclass
class Steps:
    """Runs each write as a named step, so a failure says what it was doing and which state
    it left (or, for a lost answer, which two states the function may be in)."""

    applier: Applier
    progress: Progress

    def run(self, what: str, action: Callable[[], Any], done: str) -> Any:
        """``action``; the function is in state ``done`` once AWS accepted its write."""
        applier, progress = self.applier, self.progress
        applier.written = lambda: setattr(progress, "stage", done)
        try:
            out = action()
        except MlayerError as exc:
            lost = applier.sending and getattr(exc, "code", "") in LOST_ANSWER
            applier.sending = False
            maybe = done if lost and done != progress.stage else None
            raise progress.fail(exc, what, maybe) from exc
        progress.stage = done
        return out


def apply_plan(
    gw: Gateway,
    relinker: Relinker,
    read: FunctionConfig | None,
    fplan: FunctionPlan,
    aplan: AliasPlan | None,
    tplan: TriggerPlan | None,
    *,
    code: bytes,
    code_sha: str,
) -> tuple[str, str, str]:
    """Apply in the module's order; (function ARN, alias ARN, mapping UUID)."""
    plan = function_steps(fplan)
    progress = Progress(fplan.name, facts=state_facts(read, aplan, plan.keys))
    steps = Steps(Applier(gw, relinker, read), progress)
    function_arn = _apply_function(steps, read, fplan, plan, code, code_sha)
    alias_arn = _apply_alias(steps, fplan.name, aplan, function_arn) if aplan is not None else ""
    progress.stage = "function"
    uuid = ""
    if tplan is not None:
        uuid = str(
            steps.run(
                "applying the Kinesis trigger",
                lambda: steps.applier.write(apply_trigger, gw, tplan, alias_arn or function_arn),
                "complete",
            )
        )
    return function_arn, alias_arn, uuid


def _apply_function(
    steps: Steps,
    read: FunctionConfig | None,
    fplan: FunctionPlan,
    plan: FunctionSteps,
    code: bytes,
    code_sha: str,
) -> str:
    """Create the function, or steps 1-3; $LATEST is complete after them. Its ARN."""
    applier = steps.applier
    if fplan.create:
        created = steps.run(
            "creating the function",
            lambda: applier.create(fplan, code, "mlayer prediction function"),
            "latest",
        )
        return created.arn if isinstance(created, FunctionConfig) else (read.arn if read else "")
    if plan.keys:
        steps.run(
            "updating the configuration",
            lambda: applier.configure(fplan, plan.keys),
            "configuration",
        )
    if plan.code:
        steps.run("updating the code", lambda: applier.code(fplan, code, code_sha), "code")
    if plan.handler:
        steps.run("setting the handler", lambda: applier.configure(fplan, ["Handler"]), "latest")
    steps.progress.stage = "latest"
    return read.arn if read else ""


def _apply_alias(steps: Steps, name: str, aplan: AliasPlan, function_arn: str) -> str:
    """Step 4: a version published and the alias moved, then its provisioned concurrency."""
    if aplan.publish:
        version = steps.run(
            f"publishing a version and moving alias {aplan.alias}",
            lambda: steps.applier.publish(name, aplan),
            "alias",
        )
        steps.progress.facts["new_version"] = version
    steps.progress.stage = "alias"
    if aplan.pc_changed:
        steps.run(
            f"setting the provisioned concurrency of alias {aplan.alias}",
            lambda: steps.applier.provisioned(name, aplan),
            "function",
        )
    return f"{function_arn}:{aplan.alias}"
