"""One error family: every failure a user can cause or meet says what happened and how to fix it.

The CLI maps these to exit codes in one place: ``exit_code`` 2 for usage/config problems
(the command could not start), 1 for operations that started and failed.
"""

from __future__ import annotations

from typing import Any


class MlayerError(Exception):
    """Root of mlayer's errors: a message (what) and a hint (how to fix)."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        return {"error": type(self).__name__, "message": self.message, "hint": self.hint}


class UsageError(MlayerError):
    """The command line or its inputs are wrong; nothing was attempted."""

    exit_code = 2


class ConfigError(UsageError):
    """mlayer.toml, an MLAYER_* variable or a flag holds an impossible value."""


class AwsError(MlayerError):
    """AWS (or the embedded emulator) refused or failed a call."""

    def __init__(self, message: str, hint: str = "", code: str = "") -> None:
        super().__init__(message, hint)
        self.code = code


class NotFoundError(AwsError):
    """A function, layer or version that the command names does not exist."""


class ConflictError(AwsError):
    """Someone else changed the function between our read and our write."""


class IncompleteError(AwsError):
    """A command stopped between its writes: ``stage`` names the state it left (``--json``
    carries it), so a script knows what a re-run will finish."""

    def __init__(self, message: str, hint: str, code: str, stage: str) -> None:
        super().__init__(message, hint, code)
        self.stage = stage

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "stage": self.stage}


class BuildError(MlayerError):
    """A dependency layer could not be built as asked."""


class BudgetError(MlayerError):
    """Lambda's size or count limits would be exceeded."""


class ModelError(MlayerError):
    """A model artifact is unusable or incompatible with the dependencies layer."""


class PlanError(MlayerError):
    """The requested relink cannot be planned (limits, missing layers, ...)."""


class LocalRuntimeError(MlayerError):
    """The local Lambda emulation cannot run the function."""


class UntrustedPickleError(ModelError):
    """A pickle names a global outside the allowlist, or uses an opcode trick: it is not loaded."""

    def __init__(
        self, message: str, hint: str = "", globals_: tuple[str, ...] = (), path: str = ""
    ) -> None:
        super().__init__(message, hint)
        self.globals = globals_
        self.path = path
