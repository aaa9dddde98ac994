"""The result of `mlayer policy`: the document itself, ready for IAM (``--json`` and text alike,
so either can be piped to ``aws iam put-role-policy --policy-document file:///dev/stdin``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlayer.policy import to_json


@dataclass(frozen=True)
class PolicyResult:
    which: str  # function | deployer
    document: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return self.document

    def render(self) -> str:
        return to_json(self.document)
