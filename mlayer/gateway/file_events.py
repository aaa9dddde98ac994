"""What scoring files needs from AWS: a bucket's Lambda notifications, the function's resource
policy (S3's permission to invoke it), and an object's head (for the emulated S3 event).

Typed views in, typed views out: the planning (file_trigger_plan.py) never sees AWS's shapes.
A bucket's other notifications (SNS, SQS, EventBridge, another function's) are kept as they are
whenever mlayer's own change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mlayer.errors import AwsError, NotFoundError
from mlayer.gateway.base import GatewayBase


@dataclass(frozen=True)
class LambdaNotification:
    """One Lambda destination of a bucket's notifications (S3 allows one suffix rule each)."""

    id: str
    function_arn: str
    events: tuple[str, ...]
    prefix: str
    suffix: str


@dataclass(frozen=True)
class InvokePermission:
    """One statement of a function's resource policy: who may invoke it, from where."""

    sid: str
    principal: str
    source_arn: str
    source_account: str
    resource: str


@dataclass(frozen=True)
class ObjectHead:
    etag: str  # without quotes
    size: int
    version_id: str


def _filter_rules(config: dict) -> dict[str, str]:
    rules = ((config.get("Filter") or {}).get("Key") or {}).get("FilterRules") or []
    return {str(r.get("Name", "")).lower(): str(r.get("Value", "")) for r in rules}


def _notification(config: dict) -> LambdaNotification:
    rules = _filter_rules(config)
    return LambdaNotification(
        id=str(config.get("Id", "")),
        function_arn=str(config.get("LambdaFunctionArn", "")),
        events=tuple(config.get("Events") or ()),
        prefix=rules.get("prefix", ""),
        suffix=rules.get("suffix", ""),
    )


def _wire(n: LambdaNotification) -> dict:
    rules = []
    if n.prefix:
        rules.append({"Name": "prefix", "Value": n.prefix})
    if n.suffix:
        rules.append({"Name": "suffix", "Value": n.suffix})
    out: dict[str, Any] = {
        "Id": n.id,
        "LambdaFunctionArn": n.function_arn,
        "Events": list(n.events),
    }
    if rules:
        out["Filter"] = {"Key": {"FilterRules": rules}}
    return out


def _condition(statement: dict, operator: str, key: str) -> str:
    value = (statement.get("Condition") or {}).get(operator, {}).get(key, "")
    return value if isinstance(value, str) else ""


class FileEventCalls(GatewayBase):
    def _notifications(self, bucket: str) -> dict:
        got = self.call(
            "s3",
            "get_bucket_notification_configuration",
            f"Reading the notifications of bucket {bucket}",
            Bucket=bucket,
        )
        return {k: v for k, v in got.items() if k != "ResponseMetadata"}

    def lambda_notifications(self, bucket: str) -> list[LambdaNotification]:
        """The bucket's Lambda destinations (all of them, mlayer's or not)."""
        return [
            _notification(c)
            for c in self._notifications(bucket).get("LambdaFunctionConfigurations", [])
        ]

    def set_lambda_notifications(
        self, bucket: str, keep_ids: frozenset[str], desired: list[LambdaNotification]
    ) -> None:
        """Replace the Lambda destinations whose Id is not in ``keep_ids`` by ``desired``;
        every other notification of the bucket stays as it is."""
        current = self._notifications(bucket)
        kept = [
            c for c in current.get("LambdaFunctionConfigurations", []) if c.get("Id") in keep_ids
        ]
        config = {k: v for k, v in current.items() if k != "LambdaFunctionConfigurations"}
        config["LambdaFunctionConfigurations"] = kept + [_wire(n) for n in desired]
        self.call(
            "s3",
            "put_bucket_notification_configuration",
            f"Setting the notifications of bucket {bucket}",
            Bucket=bucket,
            NotificationConfiguration=config,
        )

    def invoke_permissions(self, function: str, qualifier: str = "") -> list[InvokePermission]:
        """The function's (or alias's) resource-policy statements; none when it has no policy."""
        params: dict[str, Any] = {"FunctionName": function}
        if qualifier:
            params["Qualifier"] = qualifier
        try:
            got = self.call("lambda", "get_policy", f"Reading the policy of {function}", **params)
        except NotFoundError:
            return []
        except AwsError as exc:
            if exc.code == "ResourceNotFoundException":
                return []
            raise
        statements = json.loads(got.get("Policy") or "{}").get("Statement") or []
        return [
            InvokePermission(
                sid=str(s.get("Sid", "")),
                principal=str((s.get("Principal") or {}).get("Service", "")),
                source_arn=_condition(s, "ArnLike", "AWS:SourceArn"),
                source_account=_condition(s, "StringEquals", "AWS:SourceAccount"),
                resource=str(s.get("Resource", "")),
            )
            for s in statements
        ]

    def allow_s3_invoke(
        self, function: str, sid: str, bucket: str, account: str, qualifier: str = ""
    ) -> None:
        """S3 may invoke the function for notifications of this bucket in this account."""
        params: dict[str, Any] = {
            "FunctionName": function,
            "StatementId": sid,
            "Action": "lambda:InvokeFunction",
            "Principal": "s3.amazonaws.com",
            "SourceArn": f"arn:aws:s3:::{bucket}",
            "SourceAccount": account,
        }
        if qualifier:
            params["Qualifier"] = qualifier
        self.call("lambda", "add_permission", f"Letting S3 invoke {function}", **params)

    def remove_invoke_permission(self, function: str, sid: str, qualifier: str = "") -> None:
        params: dict[str, Any] = {"FunctionName": function, "StatementId": sid}
        if qualifier:
            params["Qualifier"] = qualifier
        self.call("lambda", "remove_permission", f"Removing {sid} from {function}", **params)

    def object_head(self, bucket: str, key: str) -> ObjectHead:
        """An object's ETag, size and version (NotFoundError when it is absent)."""
        got = self.call("s3", "head_object", f"Reading s3://{bucket}/{key}", Bucket=bucket, Key=key)
        return ObjectHead(
            etag=str(got.get("ETag", "")).strip('"'),
            size=int(got.get("ContentLength", 0)),
            version_id=str(got.get("VersionId") or ""),
        )
