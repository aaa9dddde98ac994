"""`[function] role = "create"`: what to create or change so mlayer-<function> holds exactly
the configuration's policy (pure). The role trusts lambda.amazonaws.com and carries one inline
policy, ``mlayer``; a changed configuration replaces that policy whole (a new sink's statement
comes, the old one goes), and the plan lists the statements that differ.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

POLICY_NAME = "mlayer"


@dataclass(frozen=True)
class RoleChange:
    sid: str
    before: dict[str, Any] | None  # the live statement (None: added)
    after: dict[str, Any] | None  # the configured one (None: removed)

    def to_dict(self) -> dict[str, Any]:
        return {"sid": self.sid, "before": self.before, "after": self.after}


@dataclass(frozen=True)
class RolePlan:
    name: str
    arn: str
    create: bool  # the role does not exist yet
    changes: tuple[RoleChange, ...]  # statements of the inline policy that differ
    document: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def changed(self) -> bool:
        return self.create or bool(self.changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "arn": self.arn,
            "create": self.create,
            "changes": [c.to_dict() for c in self.changes],
            "policy_name": POLICY_NAME,
            "policy": self.document,
        }

    def render_lines(self, verb: str) -> list[str]:
        """``verb`` is "Would" (a dry run) or "Did"; each statement that differs: + - ~."""
        if not self.changed:
            return [f"Role {self.name}: unchanged."]
        lines = [f"{verb} update policy {POLICY_NAME} of role {self.name}:"]
        if self.create:
            lines = [f"{verb} create role {self.name} (trusting Lambda) with policy {POLICY_NAME}:"]
        for c in self.changes:
            sign = "+" if c.before is None else "-" if c.after is None else "~"
            shown = c.after or c.before or {}
            lines.append(f"  {sign} {c.sid}: {_short(shown)}")
        return lines


def _short(statement: dict[str, Any]) -> str:
    actions = statement.get("Action")
    resources = statement.get("Resource")

    def as_text(v: Any) -> str:
        return v if isinstance(v, str) else ", ".join(v)

    return f"{as_text(actions)} on {as_text(resources)}"


def _by_sid(doc: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    statements = (doc or {}).get("Statement") or []
    if isinstance(statements, dict):
        statements = [statements]
    return {s.get("Sid", f"#{i}"): s for i, s in enumerate(statements)}


def plan_role(
    name: str, arn: str, exists: bool, live: dict[str, Any] | None, desired: dict[str, Any]
) -> RolePlan:
    """Compare the live inline policy (None: none) with the desired document, by Sid."""
    before, after = _by_sid(live), _by_sid(desired)
    changes = [
        RoleChange(sid, before.get(sid), after.get(sid))
        for sid in sorted(set(before) | set(after))
        if before.get(sid) != after.get(sid)
    ]
    return RolePlan(name, arn, not exists, tuple(changes), desired)
