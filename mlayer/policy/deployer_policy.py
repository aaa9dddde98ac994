"""The least a person or CI pipeline needs to run every mlayer command for one configuration.

The statements follow the gateway's calls (mlayer/gateway/), grouped by what they serve:
  ArtifactBucket        HeadBucket, HeadObject of absent keys and prune's listing (ListBucket)
  CreateArtifactBucket  the first command's CreateBucket with its public-access block,
                        ownership and encryption settings
(sts:GetCallerIdentity, which names the default bucket and the ARNs, needs no permission.)
  ArtifactObjects       layer zips, locks and manifests (layers/), the function's code
                        (functions/), S3-stored models (models/), version labels (labels/),
                        prune's records (pruned/), rollout and shadow states of this function,
                        poll --local's checkpoints
  PruneObjects          prune deletes unneeded zips, models, labels and its own records
  Layers                publish mlayer's two layers (build-deps, publish-model)
  ListLayers            lambda:ListLayerVersions and ListLayers (prune: what the account's
                        other layers name in the shared bucket) take no resource
  ReadAccountLayers     read layer versions: mlayer's (every command) and, for prune, each of
                        the account's (its sha256: an object of the shared bucket that another
                        function's layer names stays)
  Function              the function, its versions and alias (deploy-function, relinks,
                        provisioned concurrency, invoke, prune's reads, rollouts' weights)
  PruneVersions         prune deletes model-layer versions (dependencies-layer versions with
                        --deps) and, with [model] alias, function versions (never the function)
  FileNotifications     [trigger] s3: the bucket's notifications; FileInvokePermission: S3's
                        right to invoke the function; ReadDroppedFiles: `invoke --s3`'s HEAD
  ReadMetrics           cloudwatch:GetMetricData, which takes no resource: `shadow status` (a
                        shadow needs no alias) and, with [model] alias, rollouts' gates;
                        cloudwatch:ListMetrics (no resource): a regressor's value bins
  PassRole              iam:PassRole on the function's role only
  EventSourceMappings   list/create take no resource; update is on the account's mappings
  TriggerStream         DescribeStreamSummary of [trigger] stream (its ARN, at deploy)
  TriggerStreamKey      kms:DescribeKey on the key a KMS alias of that stream names (``keys``,
                        read from the live stream): deploy-function and status name the
                        key's ARN in the function's policy, which IAM honours, never the alias's
  OnFailureTarget       the destination's ARN at deploy (sqs:GetQueueAttributes / sns)
  ManageRole            [function] role = "create": the mlayer-<function> role and its policy
  ReadRolePolicies      a user-given role: status reads its policies to list what is missing
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlayer.config import Settings
from mlayer.policy.arns import Arns, s3_bucket_prefix, split_url
from mlayer.policy.document import Statement, document
from mlayer.policy.function_policy import on_failure_url

CREATE_ROLE = "create"
ROLE_PREFIX = "mlayer-"
BUCKET_SETUP = (
    "s3:CreateBucket",
    "s3:PutBucketOwnershipControls",
    "s3:PutBucketPublicAccessBlock",
    "s3:PutEncryptionConfiguration",
)
FUNCTION_ACTIONS = (
    "lambda:CreateAlias",
    "lambda:CreateFunction",
    "lambda:DeleteProvisionedConcurrencyConfig",
    "lambda:GetAlias",
    "lambda:GetFunctionConfiguration",
    "lambda:GetProvisionedConcurrencyConfig",
    "lambda:InvokeFunction",
    "lambda:ListAliases",
    "lambda:ListProvisionedConcurrencyConfigs",
    "lambda:ListVersionsByFunction",
    "lambda:PublishVersion",
    "lambda:PutProvisionedConcurrencyConfig",
    "lambda:UpdateAlias",
    "lambda:UpdateFunctionCode",
    "lambda:UpdateFunctionConfiguration",
)
OBJECT_PREFIXES = ("functions/", "layers/", "models/")
# create-role's read and write, and status's reads of the same role
ROLE_ACTIONS = (
    "iam:CreateRole",
    "iam:GetRole",
    "iam:GetRolePolicy",
    "iam:ListAttachedRolePolicies",
    "iam:ListRolePolicies",
    "iam:PutRolePolicy",
)
ROLE_READS = (
    "iam:GetRolePolicy",
    "iam:ListAttachedRolePolicies",
    "iam:ListRolePolicies",
)
POLICY_READS = ("iam:GetPolicy", "iam:GetPolicyVersion")


def role_name(settings: Settings) -> str:
    """The created role's name: mlayer-<function>."""
    return f"{ROLE_PREFIX}{settings.function.name}"


def role_arn(settings: Settings, arns: Arns) -> str:
    """The function's role: the configured ARN, the one ``create`` makes, or "" (none
    configured: an update keeps the live role and passes none)."""
    role = settings.function.role
    return arns.role(role_name(settings)) if role == CREATE_ROLE else role


def _bucket_statements(settings: Settings, arns: Arns) -> list[Statement]:
    bucket, fn = settings.artifacts.bucket, settings.function.name
    layers = (settings.deps.layer, settings.model.layer)
    objects = [arns.objects(bucket, p) for p in OBJECT_PREFIXES]
    objects += [arns.objects(bucket, f"labels/{layer}/") for layer in layers]
    records = [arns.objects(bucket, f"pruned/{layer}/") for layer in layers]
    states = [
        arns.objects(bucket, p)
        for p in (f"rollouts/{fn}/", f"shadows/{fn}/", f"local/checkpoints/{fn}/")
    ]
    states.append(f"{arns.bucket(bucket)}/shadow/{fn}.json")
    return [
        Statement("ArtifactBucket", ("s3:ListBucket",), (arns.bucket(bucket),)),
        Statement("CreateArtifactBucket", BUCKET_SETUP, (arns.bucket(bucket),)),
        Statement(
            "ArtifactObjects", ("s3:GetObject", "s3:PutObject"), (*objects, *records, *states)
        ),
        Statement("PruneObjects", ("s3:DeleteObject",), (*objects, *records)),
    ]


def _lambda_statements(settings: Settings, arns: Arns) -> list[Statement]:
    fn = settings.function.name
    layers = (settings.deps.layer, settings.model.layer)
    return [
        Statement("Layers", ("lambda:PublishLayerVersion",), tuple(map(arns.layer, layers))),
        Statement("ListLayers", ("lambda:ListLayerVersions", "lambda:ListLayers"), ("*",)),
        Statement("ReadAccountLayers", ("lambda:GetLayerVersion",), (arns.any_layer_version(),)),
        Statement(
            "PruneVersions",
            ("lambda:DeleteLayerVersion",),
            tuple(arns.layer_versions(name) for name in layers),
        ),
        Statement("Function", FUNCTION_ACTIONS, (arns.function(fn), arns.function_qualified(fn))),
    ] + _pass_role(settings, arns)


def _pass_role(settings: Settings, arns: Arns) -> list[Statement]:
    role = role_arn(settings, arns)
    return [Statement("PassRole", ("iam:PassRole",), (role,))] if role else []


def _trigger_statements(settings: Settings, arns: Arns) -> list[Statement]:
    stream = settings.trigger.stream
    if not stream:
        return []
    out = [
        Statement(
            "EventSourceMappings",
            ("lambda:CreateEventSourceMapping", "lambda:ListEventSourceMappings"),
            ("*",),
        ),
        Statement(
            "UpdateEventSourceMapping",
            ("lambda:UpdateEventSourceMapping",),
            (arns.event_source_mappings(),),
        ),
    ]
    if not stream.startswith("arn:"):
        out.append(
            Statement("TriggerStream", ("kinesis:DescribeStreamSummary",), (arns.stream(stream),))
        )
    scheme, rest = split_url(on_failure_url(settings))
    if scheme == "sqs":
        out.append(
            Statement(
                "OnFailureTarget",
                ("sqs:GetQueueAttributes", "sqs:GetQueueUrl"),
                (arns.queue(rest),),
            )
        )
    elif scheme == "sns":
        out.append(Statement("OnFailureTarget", ("sns:GetTopicAttributes",), (arns.topic(rest),)))
    return out


def _file_statements(settings: Settings, arns: Arns) -> list[Statement]:
    """[trigger] s3 (tolerated when absent): the bucket's notifications, S3's permission to
    invoke the function, and `invoke --s3`'s HEAD of a dropped file."""
    url = getattr(settings.trigger, "s3", "") or ""
    if not url.startswith("s3://"):
        return []
    bucket, prefix = s3_bucket_prefix(url[len("s3://") :])
    fn = settings.function.name
    return [
        Statement(
            "FileNotifications",
            ("s3:GetBucketNotification", "s3:PutBucketNotification"),
            (arns.bucket(bucket),),
        ),
        Statement(
            "FileInvokePermission",
            ("lambda:AddPermission", "lambda:GetPolicy", "lambda:RemovePermission"),
            (arns.function(fn), arns.function_qualified(fn)),
        ),
        Statement("ReadDroppedFiles", ("s3:GetObject",), (arns.objects(bucket, prefix),)),
    ]


def _role_statements(settings: Settings, arns: Arns) -> list[Statement]:
    role = role_arn(settings, arns)
    if not role:
        return []
    if settings.function.role == CREATE_ROLE:
        return [Statement("ManageRole", ROLE_ACTIONS, (role,))]
    return [
        Statement("ReadRolePolicies", ROLE_READS, (role,)),
        Statement(
            "ReadAttachedPolicies",
            POLICY_READS,
            (arns.policies(arns.account), arns.policies("aws")),
        ),
    ]


def _metric_statements() -> list[Statement]:
    """`shadow status` reads a shadow's metrics with or without an alias, rollouts with one
    (a regressor's rollout lists its value bins first: ListMetrics)."""
    return [
        Statement("ReadMetrics", ("cloudwatch:GetMetricData", "cloudwatch:ListMetrics"), ("*",))
    ]


def _alias_statements(settings: Settings, arns: Arns) -> list[Statement]:
    fn = settings.function.name
    if not settings.model.alias:  # relinks publish function versions for an alias only
        return []
    # prune deletes the function versions relinks published for the alias
    return [Statement("PruneVersions", ("lambda:DeleteFunction",), (arns.function_qualified(fn),))]


def _key_statements(arns: Arns, keys: Mapping[str, str] | None) -> list[Statement]:
    key = (keys or {}).get("trigger")
    return [Statement("TriggerStreamKey", ("kms:DescribeKey",), (arns.key(key),))] if key else []


def deployer_statements(
    settings: Settings, arns: Arns, keys: Mapping[str, str] | None = None
) -> list[Statement]:
    """Every statement the deployer needs for ``settings`` (bucket named: with_bucket);
    ``keys``: the keys it describes, by purpose (only "trigger" is read)."""
    return [
        *_metric_statements(),
        *_alias_statements(settings, arns),
        *_bucket_statements(settings, arns),
        *_lambda_statements(settings, arns),
        *_trigger_statements(settings, arns),
        *_file_statements(settings, arns),
        *_role_statements(settings, arns),
        *_key_statements(arns, keys),
    ]


def deployer_policy(
    settings: Settings, arns: Arns, keys: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The deployer's policy document (see the module docstring)."""
    return document(deployer_statements(settings, arns, keys))
