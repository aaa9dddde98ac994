"""An IAM policy document as a value: statements with Sids, deterministic JSON ready for IAM.

Statements are merged by Sid (their actions and resources united), then everything is sorted,
so the same configuration always gives byte-for-byte the same document and a diff between two
documents shows only what changed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

VERSION = "2012-10-17"


@dataclass(frozen=True)
class Statement:
    """One Allow statement: a Sid that says why, the actions and the exact resources."""

    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        actions, resources = sorted(set(self.actions)), sorted(set(self.resources))
        return {
            "Sid": self.sid,
            "Effect": "Allow",
            "Action": actions[0] if len(actions) == 1 else actions,
            "Resource": resources[0] if len(resources) == 1 else resources,
        }


def merge(statements: Iterable[Statement]) -> tuple[Statement, ...]:
    """One statement per Sid (actions and resources united), sorted by Sid."""
    by_sid: dict[str, tuple[set[str], set[str]]] = {}
    for st in statements:
        actions, resources = by_sid.setdefault(st.sid, (set(), set()))
        actions.update(st.actions)
        resources.update(st.resources)
    return tuple(
        Statement(sid, tuple(sorted(a)), tuple(sorted(r))) for sid, (a, r) in sorted(by_sid.items())
    )


def document(statements: Iterable[Statement]) -> dict[str, Any]:
    """The policy document (JSON-ready dict) of ``statements``, merged and sorted."""
    return {"Version": VERSION, "Statement": [st.to_dict() for st in merge(statements)]}


def to_json(doc: dict[str, Any]) -> str:
    """The document as IAM takes it, in one stable form (sorted keys, two-space indent)."""
    return json.dumps(doc, indent=2, sort_keys=True)


def without(doc: dict[str, Any], sid: str) -> dict[str, Any]:
    """The document without the statement ``sid`` (what the necessity tests remove)."""
    return {**doc, "Statement": [st for st in doc["Statement"] if st.get("Sid") != sid]}
