"""rollback's writes, in order, after ``confirm``; every decision is rollback_plan.py's.

1. a rollout running on the alias is aborted first (all its traffic back on the old version):
   the rollback then moves the alias where it was asked to, and no rollout step moves it back.
2. the relink (relink.py): the function's layers and /tmp with the RevisionId, then the alias.
A failure in step 1 raises ``RollbackIncompleteError`` (stage "nothing": the function and the
alias are as they were; the rollout may be aborted). A failure in step 2 is the relinker's: before
its write lands the function is as it was; after, ``RelinkedError`` names the function left
apart from its alias and the command that joins them.
"""

from __future__ import annotations

from mlayer.config import Settings
from mlayer.errors import IncompleteError, MlayerError
from mlayer.gateway import Gateway
from mlayer.publishing.models import RelinkOutcome
from mlayer.publishing.relink import LinkSettings, Relinker
from mlayer.publishing.resolved import ResolvedRollback
from mlayer.publishing.rollback_plan import RollbackPlan
from mlayer.rollout.commands import abort_for_rollback


class RollbackIncompleteError(IncompleteError):
    """rollback stopped before its relink: ``stage`` names what was written."""


def apply_rollback(
    gw: Gateway, settings: Settings, req: ResolvedRollback, plan: RollbackPlan
) -> RelinkOutcome:
    """The writes in the module's order; the relinker's outcome."""
    try:
        abort_for_rollback(gw, settings, req.alias)
    except MlayerError as exc:
        raise RollbackIncompleteError(
            f"rollback stopped while aborting the rollout on alias {req.alias}: "
            f"{exc.message.rstrip('. ')}. {req.function} and alias {req.alias} are as they "
            "were; the rollout may have been aborted (`mlayer rollout status` says).",
            f"{exc.hint} Then run the same `mlayer rollback` again.".strip(),
            getattr(exc, "code", "") or type(exc).__name__,
            "nothing",
        ) from exc
    tmp = LinkSettings(tmp_mb=plan.ephemeral.size_mb)
    return Relinker(gw).apply(plan.relink, alias=req.alias, settings=tmp)
