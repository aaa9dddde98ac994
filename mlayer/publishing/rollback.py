"""rollback: relink an existing model-layer version (--version N or --previous). No code deploy.

Resolve (resolved.py), read what choosing the version needs (rollback_read.py), choose it (pure,
rollback_plan.py), read what the plan needs, plan (pure: the manifest checked against the
function's dependencies lock exactly as a publish is, the relink, /tmp, the alias), then, after
``confirm``, the writes in the order of rollback_apply.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from mlayer.config import Settings
from mlayer.gateway import Gateway
from mlayer.publishing.publish import no_confirm
from mlayer.publishing.relink import Relinker
from mlayer.publishing.resolved import resolve_rollback
from mlayer.publishing.rollback_apply import apply_rollback
from mlayer.publishing.rollback_plan import RollbackPlan, choose_target, plan_rollback
from mlayer.publishing.rollback_read import VersionsRead, read_target, read_versions
from mlayer.request_types import RollbackRequest
from mlayer.results.rollback import RollbackResult


def _alias_reuse(gw: Gateway, first: VersionsRead, plan: RollbackPlan) -> str | None:
    """A dry run's one question to the relinker: the function version that already carries the
    planned layers and /tmp, which the alias would go to (None: one would be published)."""
    latest = first.config.relinked(plan.relink.after, plan.ephemeral.size_mb)
    return Relinker(gw).matching_version(plan.relink.function, latest)


def rollback(
    gw: Gateway,
    settings: Settings,
    request: RollbackRequest,
    *,
    confirm: Callable[[str], None] = no_confirm,
) -> RollbackResult:
    """Relink the function (and move the alias) to an existing model-layer version."""
    req = resolve_rollback(settings, request)
    first = read_versions(gw, req)
    target = choose_target(req, first.versions, first.live, first.pruned)
    plan = plan_rollback(req, first.live, read_target(gw, settings, req, first, target))
    base = RollbackResult(
        function=req.function,
        layer_name=req.layer,
        from_version=plan.from_version,
        to_version=plan.to_version,
        label=plan.label,
        plan=plan.relink,
        dry_run=req.dry_run,
        noop=plan.noop,
        alias=req.alias,
        alias_version=plan.alias_version,
        warnings=plan.warnings,
        store=plan.store,
        ephemeral_mb=plan.ephemeral.size_mb,
    )
    if plan.noop:
        return base
    if req.dry_run:
        reuse = _alias_reuse(gw, first, plan) if req.alias else None
        return replace(base, alias_reuse=reuse)
    confirm(plan.question(req.alias))
    outcome = apply_rollback(gw, settings, req, plan)
    return replace(base, outcome=outcome)
