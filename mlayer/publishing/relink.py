"""Apply a RelinkPlan to a live function, safely enough for CI on production.

Lambda allows one update at a time and reports progress in LastUpdateStatus, so a relink is:
wait until updatable -> check nobody changed the layers since the plan -> update with the
RevisionId of that read -> wait until Successful (or report Failed with AWS's reason).
ResourceConflictException (an update is still running) is retried with backoff; a RevisionId
mismatch (PreconditionFailed) is not: someone else changed the function, so we stop.
Sleep and clock come from the Gateway, so Stubber tests run instantly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mlayer.arns import LayerVersionArn
from mlayer.errors import AwsError, ConflictError
from mlayer.gateway import Gateway
from mlayer.gateway.views import FunctionConfig
from mlayer.publishing.models import RelinkOutcome, RelinkPlan

CONFLICT = "ResourceConflictException"
# The request went out and its answer did not come back (translate.py's codes): it may have landed.
RESPONSE_LOST = {"ReadTimeoutError", "ConnectionClosedError", "ResponseStreamingError"}
_STILL_UPDATING = "Function {function} is still being updated after {timeout:.0f} s."
_NOT_FINISHED = "The update of {function} did not finish within {timeout:.0f} s."
_LATE_HINT = {
    _STILL_UPDATING: "Wait for the other update to finish, then run the command again.",
    _NOT_FINISHED: "Check the function in the console; run `mlayer status`.",
}


class RelinkedError(AwsError):
    """A failure after the relink was sent: the message says the function's state (relinked,
    alias apart, or to be read) and the hint the command that completes it. Add nothing to it."""


class UpdateFailed(AwsError):
    """Lambda reports the update Failed: the function keeps its previous configuration."""


def _landed(function: str, config: FunctionConfig) -> bool:
    """True once the update is Successful; a Failed one raises with AWS's own reason."""
    status = config.update_status
    if status == "Failed":
        reason = config.update_reason or "no reason given"
        code = config.update_reason_code or "Failed"
        raise UpdateFailed(
            f"Lambda could not apply the new layers to {function}: {code}: {reason}",
            "Fix the cause above; the function keeps serving with its previous configuration.",
            code,
        )
    return status in (None, "Successful")


@dataclass(frozen=True)
class LinkSettings:
    """What goes with the layers in the relink's one update: /tmp for an S3-stored model, the
    function's variables (a shadow's); None leaves each as it is."""

    tmp_mb: int | None = None
    environment: dict[str, str] | None = None

    @property
    def changes(self) -> bool:
        """Whether anything goes with the layers: an update even when they are as planned."""
        return self.tmp_mb is not None or self.environment is not None


class Relinker:
    def __init__(
        self,
        gateway: Gateway,
        *,
        timeout: float = 300.0,
        poll: float = 1.0,
        max_conflicts: int = 6,
        backoff: float = 1.0,
    ) -> None:
        self.gw = gateway
        self.timeout = timeout
        self.poll = poll
        self.max_conflicts = max_conflicts
        self.backoff = backoff

    def _poll(
        self, function: str, done: Callable[[FunctionConfig], bool], late: str
    ) -> FunctionConfig:
        """Read the configuration until ``done(config)``; AwsError Timeout past the deadline."""
        deadline = self.gw.clock() + self.timeout
        while True:
            config = self.gw.function_config(function)
            if done(config):
                return config
            if self.gw.clock() > deadline:
                raise AwsError(
                    late.format(function=function, timeout=self.timeout),
                    _LATE_HINT[late],
                    "Timeout",
                )
            self.gw.sleep(self.poll)

    def wait_updatable(self, function: str) -> FunctionConfig:
        """The configuration once no update is in progress (LastUpdateStatus not InProgress)."""
        return self._poll(function, lambda config: config.updatable, _STILL_UPDATING)

    def wait_successful(self, function: str) -> FunctionConfig:
        """Poll until the update lands; a Failed update is reported with AWS's own reason."""
        return self._poll(function, lambda config: _landed(function, config), _NOT_FINISHED)

    def apply(
        self,
        plan: RelinkPlan,
        alias: str | None = None,
        settings: LinkSettings | None = None,
        *,
        fresh: bool = False,
    ) -> RelinkOutcome:
        """Relink per plan (no call at all when nothing changes), then optionally move an alias.

        ``settings`` go in the same UpdateFunctionConfiguration (e.g. the /tmp an S3-stored
        model needs), so the layers and what they need land together. ``fresh``: the target
        layer version was published by this command, so no function version can carry it yet
        and the alias's version is published without listing the function's versions.
        """
        attempts = 0
        config: FunctionConfig | None = None
        typed = settings or LinkSettings()
        if plan.changed or typed.changes:
            attempts = self._update_layers(plan, alias, typed)
            config = self._confirm(plan, alias)
        if not alias:
            return RelinkOutcome(
                revision_id=config.revision_id if config else None, attempts=attempts
            )
        return self._move_alias_after(plan, alias, config, attempts, fresh)

    def _update_layers(self, plan: RelinkPlan, alias: str | None, typed: LinkSettings) -> int:
        """UpdateFunctionConfiguration on the revision read, retried on a conflict (backing
        off); the number of attempts. A lost answer is the unconfirmed state, never a retry."""
        attempts = 0
        while True:
            attempts += 1
            current = self.wait_updatable(plan.function)
            if current.layer_arns != plan.before:
                raise ConflictError(
                    f"The layers of {plan.function} changed since mlayer planned this relink.",
                    "Someone else updated the function; run the command again to plan against its current state.",
                    "Changed",
                )
            try:
                self.gw.relink_function(
                    plan.function,
                    plan.after,
                    current.revision_id,
                    tmp_mb=typed.tmp_mb,
                    environment=typed.environment,
                )
                return attempts
            except ConflictError:
                raise
            except AwsError as exc:
                if exc.code in RESPONSE_LOST:  # sent: it may have landed
                    raise self._unconfirmed(plan, alias, exc) from exc
                if exc.code != CONFLICT or attempts > self.max_conflicts:
                    raise
                self.gw.sleep(self.backoff * 2 ** (attempts - 1))

    def _move_alias_after(
        self,
        plan: RelinkPlan,
        alias: str,
        config: FunctionConfig | None,
        attempts: int,
        fresh: bool = False,
    ) -> RelinkOutcome:
        """The alias to the version carrying the layers; a failure after a relink (``config``
        read) leaves $LATEST and the alias apart, and says so."""
        relinked = config is not None
        config = config or self.wait_updatable(plan.function)
        try:
            version, reused = self.move_alias(plan.function, alias, config, fresh=fresh)
        except AwsError as exc:
            if not relinked:
                raise  # nothing was changed: the function is as it was
            raise apart_error(plan, alias, exc) from exc
        return RelinkOutcome(
            revision_id=config.revision_id,
            attempts=attempts,
            function_version=version,
            alias=alias,
            reused_version=reused,
        )

    def _confirm(self, plan: RelinkPlan, alias: str | None) -> FunctionConfig:
        """wait_successful, whose failure to read (not a Failed update) leaves the state unknown."""
        try:
            return self.wait_successful(plan.function)
        except AwsError as exc:
            if isinstance(exc, UpdateFailed) or exc.code == "Timeout":
                raise
            raise self._unconfirmed(plan, alias, exc) from exc

    @staticmethod
    def _unconfirmed(plan: RelinkPlan, alias: str | None, exc: AwsError) -> RelinkedError:
        moved = f"; alias {alias} was not moved" if alias else ""
        return RelinkedError(
            f"mlayer sent the relink of {plan.function} to {plan.new_arn}, then could not read "
            f"whether it landed{moved}: {exc.message}",
            "Run `mlayer status` to see which model the function carries; running the same "
            "command again completes it.",
            exc.code,
        )

    def matching_version(self, function: str, latest: FunctionConfig) -> str | None:
        """The newest published version whose configuration is $LATEST's (same code, layers and
        settings), so the alias can go there at once: no new version, no new SnapStart snapshot."""
        same = [v.version for v in self.gw.function_versions(function) if v.serves_like(latest)]
        return max((v for v in same if v is not None), key=int, default=None)

    def move_alias(
        self, function: str, alias: str, latest: FunctionConfig, *, fresh: bool = False
    ) -> tuple[str, bool]:
        """Point the alias at a version carrying $LATEST's configuration: an existing one, else
        one published from $LATEST (guarded by its RevisionId). The alias moves guarded by the
        RevisionId of the read the move was decided on. (version, reused)."""
        current = self.gw.alias(function, alias)
        version, reused = self.version_for(function, latest, fresh=fresh)
        if current is None:
            self.gw.create_alias(function, alias, version)
        elif current.function_version != version:
            self.gw.update_alias(function, alias, version, revision_id=current.revision_id)
        return version, reused

    def version_for(
        self, function: str, latest: FunctionConfig, *, fresh: bool = False
    ) -> tuple[str, bool]:
        """A published version carrying $LATEST's configuration: an existing one (none when
        ``fresh``: its layers are newer than every version), else one published from $LATEST
        (guarded by its RevisionId). (version, reused). A rollout (mlayer/rollout/publishing.py)
        takes it without moving the alias."""
        version = None if fresh else self.matching_version(function, latest)
        reused = version is not None
        if version is None:
            published = self.gw.publish_version(
                function, description="mlayer relink", revision_id=latest.revision_id
            )
            version = str(published.version)
            if published.state == "Pending":  # SnapStart makes its snapshot first
                self._poll_version(function, version)
        return version, reused

    def _poll_version(self, function: str, version: str) -> FunctionConfig:
        """Wait until a published version is Active (a SnapStart snapshot takes a while)."""
        deadline = self.gw.clock() + self.timeout
        while True:
            config = self.gw.function_config(function, version)
            if config.state == "Active":
                return config
            if config.state == "Failed" or self.gw.clock() > deadline:
                raise AwsError(
                    f"Function version {version} of {function} is {config.state}: "
                    f"{config.state_reason or 'it did not become Active'}.",
                    "Check the version in the console; the alias was not moved.",
                    config.state_reason_code or "VersionNotActive",
                )
            self.gw.sleep(self.poll)


def apart_error(plan: RelinkPlan, alias: str, exc: AwsError) -> RelinkedError:
    """The alias move failed after $LATEST was relinked: say that state and what completes it."""
    new = LayerVersionArn.parse(plan.new_arn)
    old = (
        f"model layer version {LayerVersionArn.parse(plan.old_arn).version}"
        if plan.old_arn
        else "its previous model"
    )
    command = (
        f"mlayer rollback --version {new.version} --alias {alias} "
        f"--function {plan.function} --layer-name {plan.layer_name}"
    )
    return RelinkedError(
        f"{plan.function} was relinked, but moving alias {alias} failed: {exc.message} So "
        f"$LATEST and the alias are apart: $LATEST carries model layer version {new.version} "
        f"({plan.new_arn}); alias {alias} still carries {old}.",
        f"Complete it with `{command}` (it moves only the alias; `mlayer status` shows both).",
        exc.code,
    )
