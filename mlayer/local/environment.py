"""The process environment Lambda gives a function, and the AWS it lets the function reach.

Paths are Lambda's, mapped into the emulation's private task root, /opt and runtime directory.
"""

from __future__ import annotations

import os
import secrets
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# What the caller's environment may lend the function (Lambda would give it the role's keys).
PASSED_THROUGH = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
)


@dataclass(frozen=True)
class FunctionSpec:
    """Everything the emulator needs to know about one function version."""

    name: str
    handler: str
    runtime: str  # python3.X
    task_root: Path
    opt_dir: Path
    memory_mb: int = 128
    timeout_s: int = 3
    architecture: str = "x86_64"
    environment: dict[str, str] = field(default_factory=dict)
    region: str = "us-east-1"
    arn: str = ""
    version: str = "$LATEST"
    ephemeral_storage_mb: int = 512  # /tmp: EphemeralStorage.Size

    @property
    def python_version(self) -> str:
        return self.runtime.removeprefix("python")


def function_aws_env(gateway: Any, role: str | None = None) -> dict[str, str]:
    """AWS_* variables that point a local function's boto3 at this gateway's AWS.

    Lambda gives a function its role's keys. On the embedded AWS with IAM enforced
    (`local-aws --enforce-iam` exports MLAYER_LAMBDA_ACCESS_KEY_ID/SECRET_ACCESS_KEY, its
    stand-in for Lambda's service) the function gets them too, from sts:AssumeRole on ``role``,
    so a permission its role lacks fails here as on AWS. Otherwise the caller's resolved
    credentials (flags, env or a profile) stand in, so the function's sinks write to the same
    (embedded or real) AWS that mlayer is talking to.
    """
    env = {"AWS_REGION": gateway.region, "AWS_DEFAULT_REGION": gateway.region}
    if gateway.endpoint_url:
        env["AWS_ENDPOINT_URL"] = gateway.endpoint_url
    keys = lambda_keys()
    if role and keys:
        return {**env, **gateway.assume_role(role, "mlayer-emulation", keys=keys)}
    creds = gateway.credentials()
    if creds is not None:
        access, secret, token = creds
        env["AWS_ACCESS_KEY_ID"] = access
        env["AWS_SECRET_ACCESS_KEY"] = secret
        if token:
            env["AWS_SESSION_TOKEN"] = token
    return env


LAMBDA_KEYS = ("ACCESS_KEY_ID", "SECRET_ACCESS_KEY")  # MLAYER_LAMBDA_<key>: see function_aws_env


def lambda_keys() -> tuple[str, str] | None:
    """The keys of `local-aws --enforce-iam`'s stand-in for Lambda's service, when exported."""
    keys = tuple(os.environ.get(f"MLAYER_LAMBDA_{k}", "") for k in LAMBDA_KEYS)
    return (keys[0], keys[1]) if all(keys) else None


def service_gateway(gateway: Any) -> Any:
    """The gateway Lambda's service itself signs with (the metrics it publishes): the stand-in's
    keys when `local-aws --enforce-iam` exported them, otherwise ``gateway``. The deployer never
    needs cloudwatch:PutMetricData for what Lambda and CloudWatch Logs publish on AWS.

    One per gateway and keys, kept: it is asked for after every emulated invocation, and a new
    one is a new boto3 session and client (about 10 ms of CPU each, 30 per poll of 300 records).
    """
    keys = lambda_keys()
    if not keys:
        return gateway
    try:
        kept = _SERVICE.get(gateway)
    except TypeError:  # a gateway that cannot be weakly referenced: a new one each time
        return gateway.with_keys(*keys)
    if kept is None or kept[0] != keys:
        kept = _SERVICE[gateway] = (keys, gateway.with_keys(*keys))
    return kept[1]


# gateway -> (the stand-in's keys, that gateway signing with them), while the gateway lives
_SERVICE: weakref.WeakKeyDictionary[Any, tuple[tuple[str, str], Any]] = weakref.WeakKeyDictionary()


def role_gateway(gateway: Any, role: str | None) -> Any:
    """The gateway Lambda's own requests for the function go through: with the stand-in's keys
    exported, one signing with the function's role (an event-source mapping reads its stream
    with the execution role); otherwise ``gateway`` itself."""
    keys = lambda_keys()
    if not role or not keys:
        return gateway
    creds = gateway.assume_role(role, "mlayer-event-source-mapping", keys=keys)
    return gateway.with_keys(
        creds["AWS_ACCESS_KEY_ID"], creds["AWS_SECRET_ACCESS_KEY"], creds["AWS_SESSION_TOKEN"]
    )


def build_environment(
    spec: FunctionSpec,
    runtime_dir: Path,
    api_address: str,
    tmp: Path,
    caller: dict[str, str] | None = None,
    aws: dict[str, str] | None = None,
) -> dict[str, str]:
    """The process environment Lambda gives a function (paths mapped into the private dirs).

    ``aws`` (the gateway's endpoint, region and resolved credentials) points the function's
    boto3 at the AWS mlayer talks to; without it, the AWS_* keys pass through from ``caller``.
    """
    caller = dict(os.environ if caller is None else caller)
    v = spec.python_version
    opt, task = str(spec.opt_dir), str(spec.task_root)
    passed = {k: caller[k] for k in PASSED_THROUGH if k in caller}
    env = dict(aws) if aws is not None else passed
    env.update({"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "en_US.UTF-8", "TZ": ":UTC"})
    env.update(spec.environment)  # the function's own variables; the reserved ones below win
    env.update(
        {
            "AWS_LAMBDA_RUNTIME_API": api_address,
            "LAMBDA_TASK_ROOT": task,
            "LAMBDA_RUNTIME_DIR": str(runtime_dir),
            "_HANDLER": spec.handler,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": time.strftime("%Y/%m/%d/[$LATEST]")
            + secrets.token_hex(16),
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_REGION": spec.region,
            "AWS_DEFAULT_REGION": spec.region,
            "MLAYER_MODEL_DIR": str(spec.opt_dir / "mlayer"),
            # Lambda's /tmp is a file system of this size; the emulation's is the machine's, so
            # the function is told the size (fetch.free_bytes caps what it will download by it)
            "MLAYER_EPHEMERAL_STORAGE_MB": str(spec.ephemeral_storage_mb),
            "PYTHONPATH": os.pathsep.join(
                [
                    task,
                    f"{opt}/python",
                    f"{opt}/python/lib/python{v}/site-packages",
                    str(runtime_dir),
                ]
            ),
            "PYTHONNOUSERSITE": "1",
            "LD_LIBRARY_PATH": os.pathsep.join([f"{task}/lib", f"{opt}/lib"]),
            "TMPDIR": str(tmp),
            "HOME": str(tmp),
        }
    )
    return env
