"""The demo under enforced IAM: who runs what, each holding only what mlayer says it needs.

The embedded AWS checks every request (`local-aws --enforce-iam`). The administrator, made with
the server's free requests, sets up what mlayer never creates (the stream, the tables, the
queues, the file step's buckets) and reads the results back for the checks. A deployer runs
every mlayer command holding exactly `mlayer policy --deployer` of each function's
configuration: one inline policy per function, named after it, written (by the administrator)
when that function's mlayer.toml is written or changed. Each function runs, as on Lambda, with
credentials from sts:AssumeRole on the role deploy-function created for it
(``[function] role = "create"``), obtained by Lambda's stand-in.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlayer.config import load_settings
from mlayer.errors import MlayerError
from mlayer.gateway import Gateway
from mlayer.gateway.dynamodb import scan_rows
from mlayer.gateway.iam_users import user_policy_sids
from mlayer.local import enforced, sandbox
from mlayer.local.aws import LocalAws

if TYPE_CHECKING:
    from mlayer.demo.host import DemoHost

DEPLOYER = "deployer"
CREATE_ROLE = "create"  # [function] role: deploy-function makes mlayer-<function>
DENIED = re.compile(r"User: (\S+) is not authorized to perform: ([\w-]+:\w+)")
AWS_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")


def _without_principals(env: Mapping[str, str]) -> dict[str, str]:
    """The caller's variables without anyone's AWS keys (nor Lambda's stand-in's)."""
    return {
        k: v for k, v in env.items() if k not in AWS_KEYS and not k.startswith("MLAYER_LAMBDA_")
    }


@dataclass
class DemoPrincipals:
    """The administrator, Lambda's stand-in, and the deployer once a configuration exists."""

    local: LocalAws
    admin: dict[str, str]
    lambda_service: dict[str, str]
    admin_gateway: Gateway
    deployer: dict[str, str] = field(default_factory=dict)
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)  # function -> document

    @classmethod
    def set_up(cls, local: LocalAws) -> DemoPrincipals:
        admin, gw = enforced.administrator(local)
        return cls(local, admin, enforced.lambda_stand_in(gw), gw)

    def admin_env(self, base: Mapping[str, str]) -> dict[str, str]:
        env = {**_without_principals(base), **self.local.env, **self.admin}
        env.pop("AWS_SESSION_TOKEN", None)
        return env

    def deployer_env(self, base: Mapping[str, str]) -> dict[str, str]:
        """A deployer's shell, as `local-aws --enforce-iam` exports it (no session token)."""
        env = {**_without_principals(base), **self.local.env, **self.deployer}
        env.pop("AWS_SESSION_TOKEN", None)
        env.update({f"MLAYER_LAMBDA_{k[4:]}": v for k, v in self.lambda_service.items()})
        return env

    def deployer_gateway(self) -> Gateway:
        keys = self.deployer["AWS_ACCESS_KEY_ID"], self.deployer["AWS_SECRET_ACCESS_KEY"]
        gw: Gateway = self.admin_gateway.with_keys(*keys)
        return gw

    def grant(self, demo: DemoHost, folder: Path, base: Mapping[str, str]) -> None:
        """The deployer holds exactly `mlayer policy --deployer` of ``folder``'s configuration
        (``base``: the shell's variables, e.g. MLAYER_MODEL_ALIAS), replacing what it held for
        that function; the first grant creates the deployer. The administrator runs it."""
        function = load_settings(folder / "mlayer.toml", env=dict(base)).function.name
        proc = demo.mlayer("--json", "policy", "--deployer", cwd=folder, env=self.admin_env(base))
        policy = json.loads(proc.stdout)
        if self.deployer:
            sandbox.set_user_policy(self.admin_gateway, DEPLOYER, policy, function)
        else:
            self.deployer = sandbox.create_user(self.admin_gateway, DEPLOYER, policy, function)
        self.policies[function] = policy
        sids = user_policy_sids(self.admin_gateway, DEPLOYER, function)
        demo.say(
            f"  (as the administrator) the deployer now holds, for {function}, exactly these "
            f"{len(sids)} statements:\n  {', '.join(sids)}"
        )

    def refused(self, attempt: Callable[[Gateway], object]) -> str:
        """Who was refused what, when AWS refused the deployer ``attempt`` ("" if allowed)."""
        try:
            attempt(self.deployer_gateway())
        except MlayerError as exc:
            m = DENIED.search(exc.message)
            return f"AccessDenied: {m.group(1)} may not {m.group(2)}" if m else exc.message
        return ""

    def verify(self, demo: DemoHost, table: str) -> None:
        """Two checks: the function's created role grants all its configuration needs (status
        evaluates it), and the deployer is refused what no policy of it grants (the table)."""
        doc = json.loads(demo.mlayer("--json", "status").stdout)
        missing = doc.get("role_missing")
        demo.check(
            "iam: the created role grants what the configuration needs",
            missing == [],
            f"mlayer-{doc.get('function')}: "
            + ("nothing missing" if missing == [] else f"missing {missing}"),
        )
        refused = self.refused(lambda gw: scan_rows(gw, table))
        demo.check(
            "iam: the deployer is refused what its policies do not grant",
            refused.startswith("AccessDenied: ") and "dynamodb:Scan" in refused,
            f"{table}: {refused[:200] or 'allowed'}",
        )
