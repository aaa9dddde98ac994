"""IAM and STS: the function's role (create-role), the policies of a role (status), and the
credentials of a role assumed (the emulated function runs with them, as on Lambda)."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import botocore.exceptions

from mlayer.errors import NotFoundError
from mlayer.gateway.base import GatewayBase, new_session
from mlayer.gateway.translate import translate

LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def _document(value: Any) -> dict[str, Any]:
    """A policy document as IAM returns it: a dict (boto3 decodes it) or URL-encoded JSON."""
    if isinstance(value, dict):
        return value
    answer: dict[str, Any] = json.loads(urllib.parse.unquote(value))
    return answer


class IamCalls(GatewayBase):
    def with_keys(self, access_key: str, secret_key: str, token: str | None = None) -> Any:
        """The same gateway (endpoint, region, limits) signing with other credentials."""
        session = new_session(
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            aws_session_token=token,
            region_name=self.region,
        )
        return type(self)(
            region=self.region,
            endpoint_url=self.endpoint_url,
            session=session,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            max_attempts=self.max_attempts,
        )

    def get_role(self, name: str) -> dict[str, Any] | None:
        """The role (Arn, AssumeRolePolicyDocument as a dict), or None when there is none."""
        try:
            role = self.call("iam", "get_role", f"Reading role {name}", RoleName=name)["Role"]
        except NotFoundError:
            return None
        return {"Arn": role["Arn"], "Trust": _document(role.get("AssumeRolePolicyDocument") or {})}

    def existing_role_arn(self, name: str) -> str | None:
        """The role's ARN, None when there is no such role."""
        role = self.get_role(name)
        return None if role is None else str(role["Arn"])

    def create_lambda_role(self, name: str, description: str) -> str:
        """A role Lambda may assume; its ARN."""
        answer: str = self.call(
            "iam",
            "create_role",
            f"Creating role {name}",
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST),
            Description=description,
        )["Role"]["Arn"]
        return answer

    def get_role_policy(self, role: str, policy: str) -> dict[str, Any] | None:
        """An inline policy's document, or None when the role has no such policy."""
        try:
            answer = self.call(
                "iam",
                "get_role_policy",
                f"Reading policy {policy} of role {role}",
                RoleName=role,
                PolicyName=policy,
            )
        except NotFoundError:
            return None
        return _document(answer["PolicyDocument"])

    def put_role_policy(self, role: str, policy: str, document: dict[str, Any]) -> None:
        self.call(
            "iam",
            "put_role_policy",
            f"Writing policy {policy} of role {role}",
            RoleName=role,
            PolicyName=policy,
            PolicyDocument=json.dumps(document, sort_keys=True),
        )

    def role_policy_documents(self, role: str) -> list[dict[str, Any]]:
        """Every policy document of the role: its inline ones, then its attached ones'
        default versions (what IAM evaluates for the role's sessions)."""
        action = f"Reading the policies of role {role}"
        names = list(
            self.paginate("iam", "list_role_policies", "PolicyNames", action, RoleName=role)
        )
        docs = [self.get_role_policy(role, n) or {} for n in names]
        attached = self.paginate(
            "iam", "list_attached_role_policies", "AttachedPolicies", action, RoleName=role
        )
        for policy in attached:
            arn = policy["PolicyArn"]
            version = self.call("iam", "get_policy", f"Reading policy {arn}", PolicyArn=arn)[
                "Policy"
            ]["DefaultVersionId"]
            doc = self.call(
                "iam",
                "get_policy_version",
                f"Reading policy {arn}",
                PolicyArn=arn,
                VersionId=version,
            )["PolicyVersion"]["Document"]
            docs.append(_document(doc))
        return docs

    def simulate_principal_policy(
        self, role_arn: str, actions: list[str], resources: list[str]
    ) -> list[str]:
        """IAM's simulator: one EvalDecision per (action, resource) evaluated."""
        answer = self.call(
            "iam",
            "simulate_principal_policy",
            f"Simulating {', '.join(actions)} for {role_arn}",
            PolicySourceArn=role_arn,
            ActionNames=actions,
            ResourceArns=resources,
        )
        return [r.get("EvalDecision", "") for r in answer.get("EvaluationResults") or []]

    def assume_role(
        self, role_arn: str, session: str, keys: tuple[str, str] | None = None
    ) -> dict[str, str]:
        """Temporary credentials of the role, as Lambda gives its function: the variables.
        ``keys``: the (access key, secret) to ask with instead of this gateway's (the embedded
        AWS's stand-in for Lambda's service principal)."""
        action = f"Assuming role {role_arn}"
        params = {"RoleArn": role_arn, "RoleSessionName": session[:64]}
        if keys is None:
            creds = self.call("sts", "assume_role", action, **params)["Credentials"]
        else:
            client = self.session.client(
                "sts",
                region_name=self.region,
                endpoint_url=self.endpoint_url,
                aws_access_key_id=keys[0],
                aws_secret_access_key=keys[1],
            )
            try:
                creds = client.assume_role(**params)["Credentials"]
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
                raise translate(exc, action) from exc
        return {
            "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
            "AWS_SESSION_TOKEN": creds["SessionToken"],
        }
