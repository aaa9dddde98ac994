"""Apply a RelinkPlan to a live function, safely enough for CI on production.

Lambda allows one update at a time and reports progress in LastUpdateStatus, so a relink is:
wait until updatable -> check nobody changed the layers since the plan -> update with the
RevisionId of that read -> wait until Successful (or report Failed with AWS's reason).
ResourceConflictException (an update is still running) is retried with backoff; a RevisionId
mismatch (PreconditionFailed) is not: someone else changed the function, so we stop.
Sleep and clock come from the Gateway, so Stubber tests run instantly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mlayer.arns import LayerVersionArn
from mlayer.errors import AwsError, ConflictError
from mlayer.gateway import Gateway
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


def _updatable(config: dict[str, Any]) -> bool:
    return config.get("LastUpdateStatus") != "InProgress" and config.get("State") != "Pending"


class RelinkedError(AwsError):
    """A failure after the relink was sent: the message says the function's state (relinked,
    alias apart, or to be read) and the hint the command that completes it. Add nothing to it."""


class UpdateFailed(AwsError):
    """Lambda reports the update Failed: the function keeps its previous configuration."""


def _landed(function: str, config: dict[str, Any]) -> bool:
    """True once the update is Successful; a Failed one raises with AWS's own reason."""
    status = config.get("LastUpdateStatus")
    if status == "Failed":
        reason = config.get("LastUpdateStatusReason") or "no reason given"
        code = config.get("LastUpdateStatusReasonCode") or "Failed"
        raise UpdateFailed(
            f"Lambda could not apply the new layers to {function}: {code}: {reason}",
            "Fix the cause above; the function keeps serving with its previous configuration.",
            code,
        )
    return status in (None, "Successful")


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
        self, function: str, done: Callable[[dict[str, Any]], bool], late: str
    ) -> dict[str, Any]:
        """Read the configuration until ``done(config)``; AwsError Timeout past the deadline."""
        deadline = self.gw.clock() + self.timeout
        while True:
            config = self.gw.get_function_configuration(function)
            if done(config):
                return config
            if self.gw.clock() > deadline:
                raise AwsError(
                    late.format(function=function, timeout=self.timeout),
                    _LATE_HINT[late],
                    "Timeout",
                )
            self.gw.sleep(self.poll)

    def wait_updatable(self, function: str) -> dict[str, Any]:
        """The configuration once no update is in progress (LastUpdateStatus not InProgress)."""
        return self._poll(function, _updatable, _STILL_UPDATING)

    def wait_successful(self, function: str) -> dict[str, Any]:
        """Poll until the update lands; a Failed update is reported with AWS's own reason."""
        return self._poll(function, lambda config: _landed(function, config), _NOT_FINISHED)

    def apply(
        self, plan: RelinkPlan, alias: str | None = None, settings: Mapping[str, Any] | None = None
    ) -> RelinkOutcome:
        """Relink per plan (no call at all when nothing changes), then optionally move an alias.

        ``settings`` go in the same UpdateFunctionConfiguration (e.g. the EphemeralStorage an
        S3-stored model needs), so the layers and what they need land together.
        """
        attempts = 0
        config: dict[str, Any] | None = None
        if plan.changed or settings:
            while True:
                attempts += 1
                current = self.wait_updatable(plan.function)
                layers = tuple(layer["Arn"] for layer in current.get("Layers") or [])
                if layers != plan.before:
                    raise ConflictError(
                        f"The layers of {plan.function} changed since mlayer planned this relink.",
                        "Someone else updated the function; run the command again to plan against its current state.",
                        "Changed",
                    )
                try:
                    self.gw.update_function_configuration(
                        plan.function,
                        revision_id=current.get("RevisionId"),
                        Layers=list(plan.after),
                        **dict(settings or {}),
                    )
                    break
                except ConflictError:
                    raise
                except AwsError as exc:
                    if exc.code in RESPONSE_LOST:  # sent: it may have landed
                        raise self._unconfirmed(plan, alias, exc) from exc
                    if exc.code != CONFLICT or attempts > self.max_conflicts:
                        raise
                    self.gw.sleep(self.backoff * 2 ** (attempts - 1))
            config = self._confirm(plan, alias)
        if not alias:
            return RelinkOutcome(revision_id=(config or {}).get("RevisionId"), attempts=attempts)
        relinked = config is not None
        config = config or self.wait_updatable(plan.function)
        try:
            version, reused = self.move_alias(plan.function, alias, config)
        except AwsError as exc:
            if not relinked:
                raise  # nothing was changed: the function is as it was
            raise apart_error(plan, alias, exc) from exc
        return RelinkOutcome(
            revision_id=config.get("RevisionId"),
            attempts=attempts,
            function_version=version,
            alias=alias,
            reused_version=reused,
        )

    def _confirm(self, plan: RelinkPlan, alias: str | None) -> dict[str, Any]:
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

    def matching_version(self, function: str, latest: dict[str, Any]) -> str | None:
        """The newest published version whose configuration is $LATEST's (same code, layers and
        settings), so the alias can go there at once: no new version, no new SnapStart snapshot."""
        want = _fingerprint(latest)
        same = [v for v in self.gw.list_function_versions(function) if _fingerprint(v) == want]
        return max((v["Version"] for v in same), key=int, default=None)

    def move_alias(self, function: str, alias: str, latest: dict[str, Any]) -> tuple[str, bool]:
        """Point the alias at a version carrying $LATEST's configuration: an existing one, else
        one published from $LATEST (guarded by its RevisionId). The alias moves guarded by the
        RevisionId of the read the move was decided on. (version, reused)."""
        current = self.gw.get_alias(function, alias)
        version, reused = self.version_for(function, latest)
        if current is None:
            self.gw.create_alias(function, alias, version)
        elif str(current.get("FunctionVersion")) != version:
            self.gw.update_alias(function, alias, version, revision_id=current.get("RevisionId"))
        return version, reused

    def version_for(self, function: str, latest: dict[str, Any]) -> tuple[str, bool]:
        """A published version carrying $LATEST's configuration: an existing one, else one
        published from $LATEST (guarded by its RevisionId). (version, reused). A rollout
        (mlayer/rollout/publishing.py) takes it without moving the alias."""
        version = self.matching_version(function, latest)
        reused = version is not None
        if version is None:
            published = self.gw.publish_function_version(
                function, description="mlayer relink", revision_id=latest.get("RevisionId")
            )
            version = str(published["Version"])
            if published.get("State") == "Pending":  # SnapStart makes its snapshot first
                self._poll_version(function, version)
        return version, reused

    def _poll_version(self, function: str, version: str) -> dict[str, Any]:
        """Wait until a published version is Active (a SnapStart snapshot takes a while)."""
        deadline = self.gw.clock() + self.timeout
        while True:
            config = self.gw.get_function_configuration(function, version)
            if config.get("State") == "Active":
                return config
            if config.get("State") == "Failed" or self.gw.clock() > deadline:
                raise AwsError(
                    f"Function version {version} of {function} is {config.get('State')}: "
                    f"{config.get('StateReason') or 'it did not become Active'}.",
                    "Check the version in the console; the alias was not moved.",
                    config.get("StateReasonCode") or "VersionNotActive",
                )
            self.gw.sleep(self.poll)


# What differs between $LATEST and a version of it without changing what it serves. Anything
# else must be equal; an unknown field that differs only costs a new version (never a wrong one).
_PER_VERSION = {
    "Version",
    "FunctionArn",
    "LastModified",
    "RevisionId",
    "Description",
    "State",
    "StateReason",
    "StateReasonCode",
    "LastUpdateStatus",
    "LastUpdateStatusReason",
    "LastUpdateStatusReasonCode",
    "RuntimeVersionConfig",
    "MasterArn",
    "ResponseMetadata",
    "Layers",
    "SnapStart",
}


def _fingerprint(config: Mapping[str, Any]) -> tuple[Any, ...]:
    """What makes two versions of a function serve alike: code, layers (in order) and settings."""
    layers = tuple(layer["Arn"] for layer in config.get("Layers") or [])
    snap = (config.get("SnapStart") or {}).get("ApplyOn", "None")
    rest = sorted((k, repr(v)) for k, v in config.items() if k not in _PER_VERSION)
    return (layers, snap, tuple(rest))


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
