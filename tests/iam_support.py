"""The embedded AWS with IAM enforced (local-aws --enforce-iam) for the tests of least privilege:
an administrator for the set-up, users holding exactly a policy, roles assumed as Lambda does,
and the CLI run with a principal's credentials."""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import boto3
from click.testing import CliRunner
from publish_support import fake_zip

from mlayer.cli import cli
from mlayer.gateway import Gateway
from mlayer.local import sandbox
from mlayer.local.aws import LOCAL_REGION, LocalAws, embedded_aws


@dataclass(frozen=True)
class Enforced:
    local: LocalAws
    admin: dict[str, str]  # the administrator's credentials (variables)

    def session(self, creds: dict[str, str]) -> boto3.session.Session:
        return boto3.session.Session(
            aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=creds.get("AWS_SESSION_TOKEN"),
            region_name=LOCAL_REGION,
        )

    def gateway(self, creds: dict[str, str] | None = None) -> Gateway:
        session = self.session(creds or self.admin)
        return Gateway(region=LOCAL_REGION, endpoint_url=self.local.endpoint_url, session=session)

    def client(self, service: str, creds: dict[str, str]):
        return self.session(creds).client(service, endpoint_url=self.local.endpoint_url)

    def env(self, creds: dict[str, str]) -> dict[str, str | None]:
        """The variables of a shell using ``creds`` on this endpoint (no stray session token)."""
        return {
            **self.local.env,
            "AWS_SESSION_TOKEN": None,
            **creds,
        }

    def mlayer(self, creds: dict[str, str], config, *args: str):
        """The CLI with ``creds``: (result, --json document or None)."""
        result = CliRunner().invoke(
            cli, ["--config", str(config), "--json", *args], env=self.env(creds)
        )
        try:
            doc = json.loads(result.stdout) if result.stdout.strip() else None
        except ValueError:
            doc = None
        return result, doc


def enforced_aws() -> Iterator[Enforced]:
    """A server checking IAM, and its administrator (made with the requests left free)."""
    with embedded_aws(enforce_iam=True) as local:
        boot = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=LOCAL_REGION
        )
        gw = Gateway(region=LOCAL_REGION, endpoint_url=local.endpoint_url, session=boot)
        admin = sandbox.create_user(gw, "administrator", sandbox.ADMIN_POLICY)
        yield Enforced(local, admin)


def assume(enforced: Enforced, role_arn: str) -> dict[str, str]:
    """Credentials of ``role_arn`` as Lambda gives its function (sts:AssumeRole)."""
    return enforced.gateway().assume_role(role_arn, "mlayer-test")


# S3 answers a HEAD it refuses with a bare 403 (no code, no action): the gateway's own words
# for the request say which S3 action it needed.
S3_REQUESTS = {
    "Checking bucket": "s3:ListBucket",
    "Creating bucket": "s3:CreateBucket",
    "Reading s3://": "s3:GetObject",
    "Writing s3://": "s3:PutObject",
    "Uploading ": "s3:PutObject",
    "Listing s3://": "s3:ListBucket",
    "Deleting s3://": "s3:DeleteObject",
}


def denied_action(result) -> str | None:
    """The action a failed command was refused (AccessDenied, or S3's 403), or None."""
    text = result.output + (str(result.exception) if result.exception else "")
    m = re.search(r"not authorized to perform: ([A-Za-z0-9]+:[A-Za-z0-9]+)", text)
    if m:
        return m.group(1)
    refused = (
        r"((?:{})[^:\"]*): (?:bucket \S+ belongs to another AWS account.*?\((?:403|AccessDenied)\)"
        r"|AWS refused the credentials \(AccessDenied)"
    ).format("|".join(re.escape(p) for p in S3_REQUESTS))
    m = re.search(refused, text)
    if m:
        return next(a for phrase, a in S3_REQUESTS.items() if m.group(1).startswith(phrase))
    return None


def denied(result) -> str:
    """The AccessDenied a failed command printed (its action named), or ""."""
    text = result.output + (str(result.exception) if result.exception else "")
    return text if denied_action(result) else ""


def create_scorer(admin: Gateway, role: str, module: str, source: str) -> None:
    """The administrator's function ``scorer`` (this Python's runtime) running ``module``.py's
    ``handler``; its zip also under acme-artifacts' functions/, where `invoke --local` finds a
    deployed function's code."""
    code = fake_zip({f"{module}.py": source})
    admin.put_bytes("acme-artifacts", f"functions/{hashlib.sha256(code).hexdigest()}.zip", code)
    admin.create_function(
        FunctionName="scorer",
        Runtime="python{}.{}".format(*sys.version_info[:2]),
        Role=role,
        Handler=f"{module}.handler",
        Code={"ZipFile": code},
        Timeout=30,
    )
