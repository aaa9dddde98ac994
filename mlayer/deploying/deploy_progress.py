"""Where a stopped deploy-function left the function, in words: the state of each stage, and the
error that names it with the command that completes it.

Kept apart from the writes (deploy_apply.py) because what a user is told about a half-done
deploy is its own contract: ``stage`` and ``maybe_stage`` are ``--json`` keys, and every
state's sentence must stay true of the order the writes are made in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlayer.errors import ConflictError, IncompleteError, MlayerError

if TYPE_CHECKING:
    from mlayer.deploying.deploy_plan import AliasPlan
    from mlayer.gateway.views import FunctionConfig

RERUN = "mlayer deploy-function"


class DeployIncompleteError(IncompleteError):
    """deploy-function stopped part-way: ``stage`` names the state the function was left in;
    ``maybe_stage`` the one it is in instead if AWS applied a write whose answer was lost."""

    def __init__(
        self, message: str, hint: str, code: str, stage: str, maybe_stage: str | None = None
    ) -> None:
        super().__init__(message, hint, code, stage)
        self.maybe_stage = maybe_stage

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "maybe_stage": self.maybe_stage}


# Failures after which a write may have been applied: the request went out, the answer did not
# come back (a connection that could not be made is not one of them).
LOST_ANSWER = {"ReadTimeoutError", "ConnectionClosedError", "ResponseStreamingError"}


# stage -> the state the function is in when the NEXT step fails (what the user is told).
STATES = {
    "nothing": "Nothing was changed: {name} is exactly as it was.",
    "configuration": (
        "{name} has the new configuration ({keys}) and its old code (sha256 {old_code}): it "
        "keeps working, the old code running with the new settings."
    ),
    "code": (
        "{name} has the new code and configuration, but its handler is still {old_handler!r}: "
        "it cannot start until the handler is set."
    ),
    "latest": (
        "$LATEST of {name} is complete (new code and configuration); alias {alias} {alias_old}."
    ),
    "alias": (
        "{name} and alias {alias} (version {new_version}) are complete; the alias's "
        "provisioned concurrency is still {pc_before}."
    ),
    "function": "{name}{alias_part} is complete; the Kinesis trigger keeps its old settings.",
    "complete": "{name}{alias_part} and its Kinesis trigger are complete.",
}


@dataclass
class Progress:
    """What is done so far, for the message of a failure."""

    name: str
    stage: str = "nothing"
    facts: dict[str, Any] = field(default_factory=dict)

    def fail(self, exc: MlayerError, step: str, maybe: str | None = None) -> DeployIncompleteError:
        state = STATES[self.stage].format(name=self.name, **self.facts)
        if maybe:
            after = STATES[maybe].format(name=self.name, **self.facts)
            state = (
                "Its answer was lost, so AWS may have applied that call: either "
                f"{state[0].lower()}{state[1:]} Or {after[0].lower()}{after[1:]}"
            )
        if isinstance(exc, ConflictError):
            cause = (
                f"someone else changed {self.name} while deploy-function was applying its plan "
                "(a relink, a rollback or another deploy); nothing of theirs was undone"
            )
        else:
            cause = exc.message
        rerun = (
            f"run `{RERUN}` again (same configuration and options): it reads the function as "
            "it is now and does only what is left."
        )
        first = "" if isinstance(exc, ConflictError) or not exc.hint else exc.hint + " Then "
        return DeployIncompleteError(
            f"deploy-function stopped while {step}: {cause}. {state}",
            first + (rerun if first else rerun[0].upper() + rerun[1:]),
            getattr(exc, "code", "") or type(exc).__name__,
            self.stage,
            maybe,
        )


def state_facts(
    read: FunctionConfig | None, aplan: AliasPlan | None, keys: list[str]
) -> dict[str, Any]:
    """What the STATES sentences name, known before the first write (``new_version`` after)."""
    return {
        "keys": ", ".join(keys) or "none",
        "old_code": read.code_sha256[:12] if read and read.code_sha256 else "?",
        "old_handler": read.handler if read else None,
        "alias": aplan.alias if aplan else "",
        "alias_old": f"still points to version {aplan.version}, whole and old, which is what "
        "the trigger invokes"
        if aplan and aplan.version
        else "does not exist yet (nor does a trigger on it)",
        "pc_before": aplan.pc_before if aplan else 0,
        "new_version": "",
        "alias_part": f" and alias {aplan.alias}" if aplan else "",
    }
