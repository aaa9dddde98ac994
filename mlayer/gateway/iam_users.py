"""An IAM user's inline policy read back as the Sids of its statements: what a user holds, as
IAM stored it (the demo says what its deployer was just granted). mlayer itself never makes
users: the embedded AWS's principals are made in mlayer/local/ (sandbox.py, enforced.py)."""

from __future__ import annotations

from typing import Any

from mlayer.gateway.iam import _document  # IAM answers a document decoded or URL-encoded


def user_policy_sids(gw: Any, user: str, policy: str) -> tuple[str, ...]:
    """The Sids of the statements of ``user``'s inline policy ``policy``, in its order ("" for
    a statement without one); NotFoundError when the user has no such policy."""
    answer = gw.call(
        "iam",
        "get_user_policy",
        f"Reading the policy {policy} of user {user}",
        UserName=user,
        PolicyName=policy,
    )
    statements = _document(answer["PolicyDocument"]).get("Statement") or []
    if isinstance(statements, dict):  # a document may hold one statement without a list
        statements = [statements]
    return tuple(str(st.get("Sid", "")) for st in statements)
