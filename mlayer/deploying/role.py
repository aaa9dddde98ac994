"""The function's role on AWS: the policy documents for this account, `--create-role`'s read,
plan and write, and what a user-given role lacks (``mlayer status``).

A created role is mlayer's (mlayer-<function>): deploy-function writes its one inline policy
before the function is created or updated, so the function never runs under a policy older
than its configuration. A user-given role is never written; its inline and attached policies
are read and evaluated by mlayer (policy/evaluate.py): IAM's simulator is not everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlayer.config import Settings
from mlayer.errors import AwsError, MlayerError, NotFoundError
from mlayer.gateway import Gateway
from mlayer.policy import Arns, deployer_policy, function_policy, role_arn, role_name
from mlayer.policy.deployer_policy import CREATE_ROLE
from mlayer.policy.evaluate import Missing, missing
from mlayer.policy.role_plan import POLICY_NAME, RolePlan, plan_role

DESCRIPTION = "mlayer: least privilege for Lambda function {name}, from its mlayer.toml"


def arns(gw: Gateway, settings: Settings, account: str | None = None) -> Arns:
    """The ARN builder of the caller's account (or ``account``) and region."""
    return Arns(account or gw.account_id(), gw.region)


def stream_keys(gw: Gateway, settings: Settings) -> dict[str, str]:
    """KMS keys the function's paths need: the trigger stream's, when it is SSE-KMS with a
    customer managed key (AWS's own alias/aws/kinesis needs no grant); an alias resolved to
    its key's ARN, on which IAM authorizes the key's use."""
    found = _stream_key(gw, settings)
    return {"trigger": found[0]} if found else {}


def described_keys(gw: Gateway, settings: Settings) -> dict[str, str]:
    """The keys deploy-function reads with kms:DescribeKey (an alias's), by purpose."""
    found = _stream_key(gw, settings)
    return {"trigger": found[0]} if found and found[1] else {}


def _stream_key(gw: Gateway, settings: Settings) -> tuple[str, bool] | None:
    """The trigger stream's customer managed key (an ARN or id) and whether an alias named it."""
    stream = settings.trigger.stream
    if not stream or stream.startswith("arn:"):
        return None
    try:
        key = gw.stream_encryption_key(stream)
    except NotFoundError:  # not created yet: the policy comes first, its key with a later run
        return None
    if not key or _is_alias(key, "alias/aws/"):
        return None
    return (_key_arn(gw, stream, key), True) if _is_alias(key) else (key, False)


def _is_alias(key: str, prefix: str = "alias/") -> bool:
    """An alias name (``alias/x``) or an alias ARN (``arn:...:alias/x``) starting ``prefix``."""
    return key.startswith(prefix) or (key.startswith("arn:") and f":{prefix}" in key)


def _key_arn(gw: Gateway, stream: str, alias: str) -> str:
    """The ARN of the key ``alias`` names; refused named (never a grant on ``*``)."""
    try:
        return gw.key_arn(alias)
    except AwsError as exc:
        raise AwsError(
            f"Stream {stream} is encrypted with KMS alias {alias}, whose key mlayer cannot "
            f"read ({exc.message}).",
            "IAM grants a key's use on the key's ARN, never an alias's: create the alias, or "
            "allow kms:DescribeKey on its key (`mlayer policy --deployer` names it), or set the "
            "stream's encryption to the key's ARN.",
            exc.code,
        ) from exc


def policy_documents(
    gw: Gateway,
    settings: Settings,
    *,
    account: str | None = None,
    keys: Mapping[str, Any] | None = None,
    described: Mapping[str, str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Both documents for ``settings`` (its bucket named): ``keys`` the function uses,
    ``described`` those the deployer reads (described_keys)."""
    a = arns(gw, settings, account)
    return {
        "function": function_policy(settings, a, keys),
        "deployer": deployer_policy(settings, a, described),
    }


def plan(gw: Gateway, settings: Settings) -> RolePlan:
    """Read the created role and its policy; the plan to make them match the configuration."""
    a = arns(gw, settings)
    name = role_name(settings)
    desired = function_policy(settings, a, stream_keys(gw, settings))
    live = gw.existing_role_arn(name)
    policy = gw.get_role_policy(name, POLICY_NAME) if live else None
    return plan_role(name, live or role_arn(settings, a), bool(live), policy, desired)


def apply(gw: Gateway, rplan: RolePlan) -> str:
    """Create the role if absent, then write its policy; the role's ARN."""
    arn = rplan.arn
    if rplan.create:
        arn = gw.create_lambda_role(rplan.name, DESCRIPTION.format(name=rplan.name))
    if rplan.changed:
        gw.put_role_policy(rplan.name, POLICY_NAME, rplan.document)
    return arn


def uses_created_role(settings: Settings) -> bool:
    return settings.function.role == CREATE_ROLE


def gaps(gw: Gateway, settings: Settings, role: str) -> list[Missing] | None:
    """What the function's policy needs that the given role does not grant; None when the
    role's policies cannot be read here (say so, never guess)."""
    if not role or ":role/" not in role:
        return None
    name = role.split(":role/", 1)[1].rsplit("/", 1)[-1]
    try:
        docs = gw.role_policy_documents(name)
        required = function_policy(settings, arns(gw, settings), stream_keys(gw, settings))
    except MlayerError:
        return None
    return missing(required, docs)
