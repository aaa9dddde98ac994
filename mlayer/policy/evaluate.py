"""Does a set of IAM policy documents allow an action on a resource? Evaluated by mlayer.

IAM's policy simulator is the authority, but the embedded AWS has none and a deployer may not
be allowed to call it; the documents of a role (inline and attached) are enough to answer what
``mlayer status`` asks: which of the permissions the configuration needs does the role lack.
The rules: an explicit Deny wins, then any Allow, else the request is implicitly denied;
``Action``/``NotAction`` and ``Resource``/``NotResource`` with ``*`` and ``?`` wildcards
(actions compare case-insensitively). Conditions are not evaluated: a statement with one is
taken to apply (an Allow the user wrote for this path, a Deny that may well apply).
A required resource that is itself a pattern (``bucket/prefix*``) is granted only by a
statement whose pattern covers every name it stands for.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

ALLOW, DENY, IMPLICIT = "allow", "deny", "implicit"
S3_OBJECT_ACTIONS = ("s3:getobject", "s3:putobject")


@lru_cache(maxsize=1024)
def _pattern(glob: str, case_insensitive: bool) -> re.Pattern[str]:
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL if case_insensitive else re.DOTALL)


def _as_list(value: object) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _matches(globs: Iterable[str], value: str, case_insensitive: bool) -> bool:
    return any(_pattern(g, case_insensitive).fullmatch(value) for g in globs)


def _applies(statement: Mapping, action: str, resource: str) -> bool:
    if "Action" in statement:
        acted = _matches(_as_list(statement["Action"]), action, True)
    else:
        acted = not _matches(_as_list(statement.get("NotAction")), action, True)
    if not acted:
        return False
    if "Resource" in statement:
        return _matches(_as_list(statement["Resource"]), resource, False)
    if "NotResource" in statement:
        return not _matches(_as_list(statement["NotResource"]), resource, False)
    return False


def decide(documents: Sequence[Mapping], action: str, resource: str) -> str:
    """``allow``, ``deny`` (an explicit Deny) or ``implicit`` (nothing allows it)."""
    allowed = False
    for doc in documents:
        for statement in _as_list_of_dicts(doc.get("Statement")):
            if not _applies(statement, action, resource):
                continue
            if statement.get("Effect") == "Deny":
                return DENY
            allowed = allowed or statement.get("Effect") == "Allow"
    return ALLOW if allowed else IMPLICIT


def _as_list_of_dicts(value: object) -> list[Mapping]:
    return [value] if isinstance(value, Mapping) else list(value or [])


@dataclass(frozen=True)
class Missing:
    """A permission the configuration needs that the documents do not grant."""

    sid: str  # the statement of mlayer's policy that needs it
    action: str
    resource: str
    decision: str  # deny | implicit

    def to_dict(self) -> dict:
        return {
            "sid": self.sid,
            "action": self.action,
            "resource": self.resource,
            "decision": self.decision,
        }


def _takes(action: str, resource: str) -> bool:
    """Whether ``resource`` is of a type ``action`` takes (S3 objects vs buckets; others all)."""
    if not resource.startswith("arn:") or ":s3:::" not in resource:
        return True
    is_object = "/" in resource.split(":::", 1)[1]
    return is_object == (action.lower() in S3_OBJECT_ACTIONS)


def missing(required: Mapping, documents: Sequence[Mapping]) -> list[Missing]:
    """What of the ``required`` policy document ``documents`` do not allow, by statement."""
    out = []
    for statement in _as_list_of_dicts(required.get("Statement")):
        for action in _as_list(statement["Action"]):
            for resource in _as_list(statement["Resource"]):
                if not _takes(action, resource):
                    continue
                decision = decide(documents, action, resource)
                if decision != ALLOW:
                    out.append(Missing(statement.get("Sid", ""), action, resource, decision))
    return out
