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

from mlayer.errors import AwsError, ConflictError
from mlayer.gateway import Gateway
from mlayer.models import RelinkOutcome, RelinkPlan

CONFLICT = "ResourceConflictException"
_STILL_UPDATING = "Function {function} is still being updated after {timeout:.0f} s."
_NOT_FINISHED = "The update of {function} did not finish within {timeout:.0f} s."
_LATE_HINT = {
    _STILL_UPDATING: "Wait for the other update to finish, then run the command again.",
    _NOT_FINISHED: "Check the function in the console; run `mlayer status`.",
}


def _updatable(config: dict) -> bool:
    return config.get("LastUpdateStatus") != "InProgress" and config.get("State") != "Pending"


def _landed(function: str, config: dict) -> bool:
    """True once the update is Successful; a Failed one raises with AWS's own reason."""
    status = config.get("LastUpdateStatus")
    if status == "Failed":
        reason = config.get("LastUpdateStatusReason") or "no reason given"
        code = config.get("LastUpdateStatusReasonCode") or "Failed"
        raise AwsError(
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

    def _poll(self, function: str, done: Callable[[dict], bool], late: str) -> dict:
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

    def wait_updatable(self, function: str) -> dict:
        """The configuration once no update is in progress (LastUpdateStatus not InProgress)."""
        return self._poll(function, _updatable, _STILL_UPDATING)

    def wait_successful(self, function: str) -> dict:
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
        config: dict | None = None
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
                    if exc.code != CONFLICT or attempts > self.max_conflicts:
                        raise
                    self.gw.sleep(self.backoff * 2 ** (attempts - 1))
            config = self.wait_successful(plan.function)
        version = None
        if alias:
            config = config or self.wait_updatable(plan.function)
            version, _ = self.move_alias(plan.function, alias, config.get("RevisionId"))
        return RelinkOutcome(
            revision_id=(config or {}).get("RevisionId"),
            attempts=attempts,
            function_version=version,
            alias=alias or None,
        )

    def move_alias(
        self, function: str, alias: str, revision_id: str | None
    ) -> tuple[str, str | None]:
        """Publish $LATEST as a version (guarded by its RevisionId) and point the alias at it."""
        published = self.gw.publish_function_version(
            function, description="mlayer relink", revision_id=revision_id
        )
        version = str(published["Version"])
        current = self.gw.get_alias(function, alias)
        moved = self.gw.put_alias(
            function, alias, version, revision_id=(current or {}).get("RevisionId")
        )
        return version, moved.get("RevisionId")
