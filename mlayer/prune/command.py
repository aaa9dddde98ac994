"""`mlayer prune`: one read (prune_read.py), a pure plan (prune_plan.py), then, once confirmed,
the deletions in their stated order (prune_apply.py). --dry-run stops after the plan."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable

from mlayer.config import Settings
from mlayer.errors import UsageError
from mlayer.gateway import Gateway
from mlayer.prune.apply import apply_prune
from mlayer.prune.plan import plan_prune
from mlayer.prune.read import read_inventory
from mlayer.prune.verdicts import PrunePlan
from mlayer.publishing.store import ArtifactStore
from mlayer.request_types import PruneRequest
from mlayer.results.prune import PruneResult, plan_text
from mlayer.results.report import human_bytes


def limits(settings: Settings, request: PruneRequest) -> tuple[int, int]:
    """(keep, older_than_days): the flags over [prune] (already validated there)."""
    keep = settings.prune.keep if request.keep is None else request.keep
    days = (
        settings.prune.older_than_days
        if request.older_than_days is None
        else request.older_than_days
    )
    if keep < 1:
        raise UsageError(
            f"--keep {keep}: at least the newest version must stay.",
            "Pass --keep 1 or more (default: [prune] keep).",
        )
    if days < 0:
        raise UsageError(f"--older-than {days}: days cannot be negative.", "Pass 0 or more.")
    return keep, days


def plan(
    gw: Gateway,
    settings: Settings,
    request: PruneRequest,
    now: _dt.datetime,
    *,
    objects: bool = True,
    store: ArtifactStore | None = None,
) -> tuple[PrunePlan, tuple[str, ...]]:
    """The plan from one read, and the read's warnings (history uses this to mark versions;
    ``objects`` False skips what the account's other layers name, which only objects need;
    ``store`` is history's, which then reads nothing twice)."""
    keep, days = limits(settings, request)
    inventory = read_inventory(gw, settings, now, elsewhere=objects, store=store)
    decided = plan_prune(inventory, keep=keep, older_than_days=days, now=now, deps=request.deps)
    return decided, inventory.warnings


def prune(
    gw: Gateway,
    settings: Settings,
    request: PruneRequest,
    *,
    now: _dt.datetime,
    confirm: Callable[[str], None],
    show: Callable[[str], None] | None = None,
    progress: Callable[[str], None] | None = None,
) -> PruneResult:
    """Plan; unless --dry-run (or nothing goes), show the plan, confirm, then delete."""
    decided, warnings = plan(gw, settings, request, now)
    if request.dry_run or (decided.empty and not decided.records_left):
        return PruneResult(decided, dry_run=request.dry_run, warnings=warnings)
    if not decided.empty:
        if show is not None:
            show(plan_text(decided))
        confirm(
            f"Delete {len(decided.goes)} items ({human_bytes(decided.bytes_freed)}) of "
            f"{decided.function}? A deleted layer version can never be attached again."
        )
    outcome = apply_prune(gw, settings.artifacts.bucket, decided, now=now, progress=progress)
    return PruneResult(decided, dry_run=False, outcome=outcome, warnings=warnings)


def would_remove(
    gw: Gateway,
    settings: Settings,
    now: _dt.datetime | None = None,
    store: ArtifactStore | None = None,
) -> frozenset[int | None]:
    """Model layer versions `mlayer prune` (with [prune] settings) would delete now: what
    `mlayer history` marks. Empty when there is nothing to judge (no function)."""
    from mlayer.errors import NotFoundError

    try:
        decided, _ = plan(
            gw,
            settings,
            PruneRequest(),
            now or _dt.datetime.now(_dt.timezone.utc),
            objects=False,
            store=store,
        )
    except NotFoundError:
        return frozenset()
    return frozenset(item.version for item in decided.model_versions)
