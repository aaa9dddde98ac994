"""`mlayer local-aws --enforce-iam`: the principals of an embedded AWS that checks IAM.

The server gives its first requests free (local/iam_enforcement.py); they make an
administrator, who then makes the two principals the story uses, each holding exactly what it
needs: the deployer (`mlayer policy --deployer` of the configuration) and a stand-in for
Lambda's service, allowed only sts:AssumeRole on the account's roles (and to publish the metrics
Lambda and CloudWatch Logs publish), with which the emulation
gives a function its role's credentials (local/environment.py), as Lambda does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlayer.config import Settings
from mlayer.gateway import Gateway
from mlayer.local import sandbox
from mlayer.local.aws import LOCAL_CREDENTIALS, LocalAws
from mlayer.policy import Arns, deployer_policy


@dataclass(frozen=True)
class EnforcedPrincipals:
    administrator: dict[str, str]
    deployer: dict[str, str]
    lambda_service: dict[str, str]
    deployer_policy: dict[str, Any]

    def env(self, local: LocalAws) -> dict[str, str]:
        """The deployer's shell: its keys, no session token, and the Lambda stand-in's keys."""
        env = {k: v for k, v in local.env.items() if k != "AWS_SESSION_TOKEN"}
        env.update(self.deployer)
        env.update({f"MLAYER_LAMBDA_{k[4:]}": v for k, v in self.lambda_service.items()})
        return env

    def export_lines(self, local: LocalAws) -> list[str]:
        return ["unset AWS_SESSION_TOKEN"] + [f"export {k}={v}" for k, v in self.env(local).items()]


def lambda_service_policy(account: str, partition: str = "aws") -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AssumeFunctionRoles",
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Resource": f"arn:{partition}:iam::{account}:role/*",
            },
            {
                # what Lambda (AWS/Lambda) and CloudWatch Logs (EMF) publish
                "Sid": "PublishMetrics",
                "Effect": "Allow",
                "Action": "cloudwatch:PutMetricData",
                "Resource": "*",
            },
        ],
    }


def _keys(creds: dict[str, str]) -> tuple[str, str]:
    return creds["AWS_ACCESS_KEY_ID"], creds["AWS_SECRET_ACCESS_KEY"]


def administrator(local: LocalAws) -> tuple[dict[str, str], Gateway]:
    """The administrator, made with the server's free requests: its keys and its gateway."""
    boot = Gateway(region=local.region, endpoint_url=local.endpoint_url).with_keys(
        LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"], LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]
    )
    admin = sandbox.create_user(boot, "administrator", sandbox.ADMIN_POLICY)
    return admin, boot.with_keys(*_keys(admin))


def lambda_stand_in(admin: Gateway) -> dict[str, str]:
    """The user that stands in for Lambda's service (its keys, to export as MLAYER_LAMBDA_*)."""
    return sandbox.create_user(admin, "lambda-service", lambda_service_policy(admin.account_id()))


def set_up(local: LocalAws, settings: Settings) -> EnforcedPrincipals:
    """The administrator (with the free requests), then the deployer and Lambda's stand-in."""
    admin, gw = administrator(local)
    arns = Arns(gw.account_id(), gw.region)
    settings = settings.with_bucket(gw.artifact_bucket(settings.artifacts.bucket))
    policy = deployer_policy(settings, arns)
    deployer = sandbox.create_user(gw, "deployer", policy)
    return EnforcedPrincipals(admin, deployer, lambda_stand_in(gw), policy)
