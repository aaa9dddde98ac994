"""An alias's traffic split: read it and set it, every write guarded by the RevisionId read.

Typed views only leave this module (AliasRouting); the rollout never sees Lambda's keys. The
functions take the Gateway (any GatewayBase) so the facade needs no new base class.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlayer.errors import NotFoundError


@dataclass(frozen=True)
class AliasRouting:
    """Where an alias sends traffic: its primary version and at most one weighted other."""

    function: str
    alias: str
    version: str
    weights: Mapping[str, float] = field(default_factory=dict)  # version -> 0..1
    revision_id: str | None = None

    def same_split(self, other: AliasRouting) -> bool:
        """Same primary and weights: what a re-read compares, since the embedded AWS never
        changes an alias's RevisionId."""
        return self.version == other.version and dict(self.weights) == dict(other.weights)


def _view(function: str, alias: str, doc: Mapping[str, Any]) -> AliasRouting:
    weights = (doc.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    return AliasRouting(
        function=function,
        alias=alias,
        version=str(doc.get("FunctionVersion")),
        weights={str(k): float(v) for k, v in weights.items()},
        revision_id=doc.get("RevisionId"),
    )


def read_routing(gw: Any, function: str, alias: str) -> AliasRouting | None:
    """The alias's split, or None when the alias does not exist."""
    try:
        doc = gw.call(
            "lambda",
            "get_alias",
            f"Reading alias {alias} of {function}",
            FunctionName=function,
            Name=alias,
        )
    except NotFoundError:
        return None
    return _view(function, alias, doc)


def set_routing(
    gw: Any,
    function: str,
    alias: str,
    version: str,
    weights: Mapping[str, float],
    revision_id: str | None,
) -> AliasRouting:
    """Point the alias at ``version`` with ``weights`` (empty: all traffic on ``version``),
    guarded by ``revision_id`` (AWS answers PreconditionFailed when someone moved it since)."""
    params: dict[str, Any] = {
        "FunctionName": function,
        "Name": alias,
        "FunctionVersion": version,
        "RoutingConfig": {"AdditionalVersionWeights": {k: float(v) for k, v in weights.items()}},
    }
    if revision_id:
        params["RevisionId"] = revision_id
    split = ", ".join(f"{v} at {w:.0%}" for v, w in weights.items())
    action = f"Routing alias {alias} of {function} to version {version}" + (
        f" ({split})" if split else ""
    )
    return _view(function, alias, gw.call("lambda", "update_alias", action, **params))
