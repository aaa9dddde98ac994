"""`mlayer shadow promote --rollout canary|linear`: the candidate goes live by steps.

The rollout is the one publish-model --rollout runs (rollout/publishing.py, with every refusal
it makes before a write: no alias, a running rollout, weights set by someone else); its
"publish" step here is the shadow's detach from $LATEST and the ordinary relink of the
candidate's layer version there (rollback.py, no alias), so the version the rollout moves the
alias to carries the candidate and no shadow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlayer.publishing.store import ArtifactStore
from mlayer.request_types import PublishRequest, RollbackRequest
from mlayer.shadow import state
from mlayer.shadow.attach import set_variables


@dataclass(frozen=True)
class Relinked:
    """What the rollout reads of its publish step: the relink's result, the label, the classes."""

    relink: Any
    label: str
    manifest: dict

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(getattr(self.relink, "warnings", ()) or ())

    def to_dict(self) -> dict:
        return {**self.relink.to_dict(), "label": self.label}

    def render(self) -> str:
        return self.relink.render()


def relink_step(
    shadow: state.ShadowState, version: int, rollback: Callable[..., Any]
) -> Callable[..., Relinked]:
    """The ``publish`` publish_with_rollout calls: detach, then relink $LATEST (no alias)."""

    def step(gw: Any, settings: Any, request: Any, *, confirm: Callable[[str], None]) -> Relinked:
        store = ArtifactStore(gw, settings.artifacts.bucket)
        manifest = store.manifest(shadow.zip_sha256) or {}
        if request.dry_run:
            planned = rollback(gw, settings, RollbackRequest(version=version, dry_run=True))
            return Relinked(planned, shadow.model_version, manifest)
        confirm(
            f"Promote {shadow.model_version} by a {request.rollout} rollout: detach the shadow, "
            f"relink {settings.function.name} to {settings.model.layer} version {version}?"
        )
        config = gw.function_config(settings.function.name)
        env = state.with_shadow(state.environment(config), None)
        set_variables(gw, settings.function.name, config, env, None)
        relinked = rollback(gw, settings, RollbackRequest(version=version))
        return Relinked(relinked, shadow.model_version, manifest)

    return step


def rollout_request(request: Any, alias: str | None) -> PublishRequest:
    return PublishRequest(
        alias=alias,
        dry_run=request.dry_run,
        rollout=request.rollout,
        percent=request.percent,
        interval=request.interval,
        wait=request.wait,
    )
