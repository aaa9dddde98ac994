"""`local-aws --enforce-iam`: the embedded AWS checks every request against IAM, per resource.

moto's server enforces IAM when started with ``INITIAL_NO_AUTH_ACTION_COUNT`` (the first N
requests free, for set-up), but as of moto 5.2.5 it evaluates a statement's Resource only for
S3 and STS (SQS by URL, IAM roles once they exist): for Lambda, Kinesis, DynamoDB, SNS and
CloudWatch Logs the resource it checks is ``*``, so a policy on exact ARNs (mlayer's) is denied
everything there and a broad one is allowed everything. It also names some S3 actions otherwise
than IAM does and CloudWatch's by its endpoint (``monitoring:GetMetricData``, IAM's
``cloudwatch:GetMetricData``), signs an empty-bodied request (a Lambda GET) over its headers
(every one fails as SignatureDoesNotMatch), and fails a role trusting a service with a 500. This module gives
those services the ARN AWS authorizes each request on, IAM's names, empty bodies signed as
empty and Lambda's trust, in the server's own process, so that a missing permission fails here
exactly where it would fail on AWS.

moto's Kinesis keeps a stream's SSE-KMS setting but never uses the key, so nothing asks for
kms:Decrypt (GetRecords) or kms:GenerateDataKey (PutRecord/PutRecords), as AWS does of whoever
reads or writes an encrypted stream. Here those requests also need that action on the stream's
customer managed key (AWS's own alias/aws/kinesis needs none), checked like any other;
KMS's own requests (DescribeKey…) are authorized on the key they name, an alias resolved
to its key, where moto checks ``*``.
Nor does moto's Lambda ask for iam:PassRole, which AWS asks of whoever creates a function or
changes its role: here CreateFunction and UpdateFunctionConfiguration naming a Role also need
iam:PassRole on that role.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Callable
from typing import Any

FREE_REQUESTS = 3  # CreateUser, PutUserPolicy, CreateAccessKey: the administrator (sandbox)
ENV = "INITIAL_NO_AUTH_ACTION_COUNT"
LAMBDA_SERVICE = "lambda.amazonaws.com"
# API operations IAM authorizes under another action's name (moto checks the operation's).
IAM_ACTIONS = {
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
    "lambda:GetLayerVersionByArn": "lambda:GetLayerVersion",
    "lambda:Invoke": "lambda:InvokeFunction",
}
# moto prefixes an action with the service's signing name, IAM with its service prefix.
IAM_SERVICES = {"monitoring": "cloudwatch"}  # CloudWatch's endpoint is monitoring.<region>
# What AWS also authorizes, on the stream's key, for a request on an SSE-KMS stream.
KMS_ON_STREAMS = {
    "GetRecords": "kms:Decrypt",
    "PutRecord": "kms:GenerateDataKey",
    "PutRecords": "kms:GenerateDataKey",
}
_APPLIED = False

_FUNCTION = re.compile(r"^/[^/]+/functions/([^/]+)(/.*)?$")
_LAYER_VERSIONS = re.compile(r"^/[^/]+/layers/([^/]+)/versions/?$")
_LAYER_VERSION = re.compile(r"^/[^/]+/layers/([^/]+)/versions/(\d+)/?$")
_MAPPING = re.compile(r"^/[^/]+/event-source-mappings/([^/]+)/?$")


def iam_action(action: str) -> str:
    """The action IAM authorizes for what moto names ``action`` (``service:Operation``)."""
    service, _, operation = action.partition(":")
    named = f"{IAM_SERVICES.get(service, service)}:{operation}"
    return IAM_ACTIONS.get(named, named)


def _base(response: Any, service: str) -> str:
    return f"arn:{response.partition}:{service}:{response.region}:{response.current_account}:"


def _json_body(response: Any) -> dict[str, Any]:
    if isinstance(response.body, dict):  # DynamoDB's handler replaces it with parsed params
        return response.body
    try:
        doc = json.loads(response.body or "{}")
    except (TypeError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _param(response: Any, name: str) -> str | None:
    value: str | list[str] | None = response.querystring.get(name)
    if isinstance(value, list):
        value = value[0] if value else None
    return value


def _lambda_resource(response: Any) -> str:
    path = urllib.parse.unquote(response.path)
    base = _base(response, "lambda")
    m = _FUNCTION.match(path)
    if m:
        name = m.group(1)
        if name.startswith("arn:"):
            return name
        qualifier = _param(response, "Qualifier")
        return f"{base}function:{name}" + (f":{qualifier}" if qualifier and ":" not in name else "")
    if re.match(r"^/[^/]+/functions/?$", path) and response.method == "POST":
        return f"{base}function:{_json_body(response).get('FunctionName', '')}"
    m = _LAYER_VERSION.match(path)
    if m:
        return f"{base}layer:{m.group(1)}:{m.group(2)}"
    m = _LAYER_VERSIONS.match(path)
    if m and response.method == "POST":
        return f"{base}layer:{m.group(1)}"
    if re.match(r"^/[^/]+/layers/?$", path) and _param(response, "Arn"):
        return str(_param(response, "Arn"))
    m = _MAPPING.match(path)
    if m:
        return f"{base}event-source-mapping:{m.group(1)}"
    return "*"  # ListLayerVersions, ListEventSourceMappings, CreateEventSourceMapping...


def _kinesis_resource(response: Any) -> str:
    body = _json_body(response)
    if body.get("StreamARN"):
        answer: str = body["StreamARN"]
        return answer
    name = body.get("StreamName")
    if not name and body.get("ShardIterator"):
        from moto.kinesis.utils import decompose_shard_iterator

        try:
            name = decompose_shard_iterator(body["ShardIterator"])[0]
        except Exception:  # not one of moto's iterators: the request fails on its own
            name = None
    return f"{_base(response, 'kinesis')}stream/{name}" if name else "*"


def _stream_key(response: Any, stream_arn: str) -> str | None:
    """The ARN of the customer managed key of an SSE-KMS stream, else None."""
    from moto.kinesis.models import kinesis_backends

    name = stream_arn.rsplit("/", 1)[-1]
    stream = kinesis_backends[response.current_account][response.region].streams.get(name)
    key = stream.key_id if stream is not None and stream.encryption_type == "KMS" else None
    if not key or key.startswith(("alias/aws/", f"{_base(response, 'kms')}alias/aws/")):
        return None
    if key.startswith("alias/"):
        from moto.kms.models import kms_backends

        backend = kms_backends[response.current_account][response.region]
        key = backend.get_key_id_from_alias(key) or key
    return key if key.startswith("arn:") else f"{_base(response, 'kms')}key/{key}"


def _key_request(action: str) -> type:
    """moto's IAM request for ``action`` (a key's kms action, iam:PassRole) beside the request's own."""
    from moto.iam.access_control import IAMRequest

    class KeyRequest(IAMRequest):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._action = action

    return KeyRequest


Also = tuple[str, str] | None  # (action, resource) AWS authorizes beside a request's own


def _also_authorize(cls: Any, also: Callable[[Any, str], Also]) -> None:
    """After moto's own check of a ``cls`` request, what AWS also authorizes for it."""
    original = cls._authenticate_and_authorize_normal_action

    def authorized(self: Any, resource: str = "*") -> None:
        original(self, resource)
        extra = also(self, resource)
        if extra:
            self._authenticate_and_authorize_action(_key_request(extra[0]), extra[1])

    cls._authenticate_and_authorize_normal_action = authorized


def _stream_key_use(response: Any, resource: str) -> Also:
    """A request on an SSE-KMS stream also needs its kms action on the stream's key."""
    action = KMS_ON_STREAMS.get(response._get_action())
    key = _stream_key(response, resource) if action and resource != "*" else None
    return (action, key) if action and key else None


# Lambda's operations that hand a role to the function: AWS asks iam:PassRole on it.
PASSES_ROLE = ("CreateFunction", "UpdateFunctionConfiguration")


def _role_passed(response: Any, resource: str) -> Also:
    """A request that names the function's Role also needs iam:PassRole on that role."""
    role = _json_body(response).get("Role") if response._get_action() in PASSES_ROLE else None
    return ("iam:PassRole", role) if isinstance(role, str) and role else None


def _kms_resource(response: Any) -> str:
    """The key a KMS request names (by id, ARN, alias or alias ARN), as ``key/<id>``: AWS
    authorizes a key's actions on the key, never on an alias of it."""
    key = _json_body(response).get("KeyId")
    if not isinstance(key, str) or not key:
        return "*"  # CreateKey, ListKeys, ListAliases: no key named
    try:
        key_id = response.kms_backend.any_id_to_key_id(key)
    except Exception:  # an unknown alias: the request fails on its own (NotFound)
        return "*"
    return f"{_base(response, 'kms')}key/{key_id}" if key_id else "*"


def _dynamodb_resource(response: Any) -> str:
    body = _json_body(response)
    table = body.get("TableName") or next(iter(body.get("RequestItems") or {}), None)
    return f"{_base(response, 'dynamodb')}table/{table}" if table else "*"


def _sqs_resource(response: Any) -> str:
    """The queue by its URL, or by its name (GetQueueUrl, CreateQueue: moto reads a URL only)."""
    body = _json_body(response)
    url = body.get("QueueUrl") or _param(response, "QueueUrl")
    name = url.rsplit("/", 1)[-1] if url else body.get("QueueName") or _param(response, "QueueName")
    return f"{_base(response, 'sqs')}{name}" if name else "*"


def _iam_resource(response: Any) -> str:
    """A role by its ARN even before it exists (moto checks an absent role against ``*``)."""
    name = _param(response, "RoleName")
    if not name:
        return "*"
    try:
        answer: str = response.backend.get_role(name).arn
        return answer
    except Exception:  # NoSuchEntity: the ARN it would have (CreateRole, a GetRole that 404s)
        return f"arn:{response.partition}:iam::{response.current_account}:role/{name}"


def _sns_resource(response: Any) -> str:
    return _param(response, "TopicArn") or "*"


def _logs_resource(response: Any) -> str:
    body = _json_body(response)
    group, stream = body.get("logGroupName"), body.get("logStreamName")
    if not group:
        return "*"
    base = f"{_base(response, 'logs')}log-group:{group}"
    return f"{base}:log-stream:{stream}" if stream else f"{base}:*"


def _s3_actions_as_iam_names_them() -> None:
    """moto names HeadBucket's action s3:HeadBucket (IAM: s3:ListBucket) and takes a bucket's
    public-access block, ownership and encryption PUTs for s3:CreateBucket."""
    from moto.s3.responses import ACTION_MAP

    ACTION_MAP["BUCKET"]["HEAD"]["DEFAULT"] = "ListBucket"
    ACTION_MAP["BUCKET"]["PUT"].update(
        {
            "publicAccessBlock": "PutBucketPublicAccessBlock",
            "ownershipControls": "PutBucketOwnershipControls",
            "encryption": "PutEncryptionConfiguration",
        }
    )


def _lambda_may_assume_its_roles() -> None:
    """A role trusting lambda.amazonaws.com is assumed, as Lambda would, by whoever emulates
    Lambda here and is allowed sts:AssumeRole on it (moto 5.2.5 fails such a trust with a 500)."""
    from moto.iam.access_control import IAMPolicyStatement

    original = IAMPolicyStatement._check_principal

    def check(self: Any, principal: str) -> bool:
        expected = self._statement.get("Principal")
        if isinstance(expected, dict) and "AWS" not in expected:
            services = expected.get("Service")
            return LAMBDA_SERVICE in ([services] if isinstance(services, str) else services or [])
        return original(self, principal)

    IAMPolicyStatement._check_principal = check  # type: ignore[method-assign]


def enforce_resources() -> None:
    """Patch this process's moto (idempotent): resources per request, empty bodies signed
    as empty. Only the server started with --enforce-iam calls it."""
    global _APPLIED
    if _APPLIED:
        return
    from moto.awslambda.responses import LambdaResponse
    from moto.dynamodb.responses import DynamoHandler
    from moto.iam.access_control import IAMRequestBase
    from moto.iam.responses import IamResponse
    from moto.kinesis.responses import KinesisResponse
    from moto.kms.responses import KmsResponse
    from moto.logs.responses import LogsResponse
    from moto.sns.responses import SNSResponse
    from moto.sqs.responses import SQSResponse

    for cls, resource in (
        (LambdaResponse, _lambda_resource),
        (KinesisResponse, _kinesis_resource),
        (DynamoHandler, _dynamodb_resource),
        (SNSResponse, _sns_resource),
        (SQSResponse, _sqs_resource),
        (IamResponse, _iam_resource),
        (LogsResponse, _logs_resource),
        (KmsResponse, _kms_resource),
    ):
        # moto's responses classes: each gets its own resource resolver, assigned at run time
        cls._determine_resource = resource  # type: ignore[union-attr,method-assign]
    original = IAMRequestBase._create_aws_request

    def signed_as_sent(self: Any) -> Any:
        request = original(self)
        if not self._body and self._method in ("GET", "HEAD", "DELETE"):
            request.data = b""  # what botocore signed (moto would sign the headers it parsed)
        return request

    IAMRequestBase._create_aws_request = signed_as_sent  # type: ignore[method-assign]
    initialized = IAMRequestBase.__init__

    def named_as_iam(self: Any, *args: Any, **kwargs: Any) -> None:
        initialized(self, *args, **kwargs)
        self._action = iam_action(self._action)

    IAMRequestBase.__init__ = named_as_iam  # type: ignore[method-assign]
    _s3_actions_as_iam_names_them()
    _lambda_may_assume_its_roles()
    _also_authorize(KinesisResponse, _stream_key_use)
    _also_authorize(LambdaResponse, _role_passed)
    _APPLIED = True
