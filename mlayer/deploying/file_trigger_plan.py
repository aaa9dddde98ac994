"""The plan of deploy-function's file trigger ([trigger] s3), pure: from what AWS has, what to do.

Two things make a bucket's new objects reach the function: a resource-policy statement letting
``s3.amazonaws.com`` invoke it for that bucket and account (Sid ``mlayer-s3-<bucket>``), and one
Lambda notification per suffix (S3 allows one suffix rule per destination) on ObjectCreated:*
with the prefix, Ids ``mlayer-<function>-<suffix>``. The permission comes first (S3 checks it
when the notification is set). Notifications of the bucket that are not mlayer's for this
function are never touched; mlayer's own that are no longer configured (a suffix dropped) go.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from mlayer.gateway.file_events import InvokePermission, LambdaNotification

EVENTS = ("s3:ObjectCreated:*",)
_SID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def permission_sid(bucket: str) -> str:
    return _SID_UNSAFE.sub("-", f"mlayer-s3-{bucket}")[:100]


def notification_id(function: str, suffix: str) -> str:
    return f"mlayer-{function}-{suffix.lstrip('.') or 'any'}"


@dataclass(frozen=True)
class FileTriggerPlan:
    bucket: str
    prefix: str
    suffixes: tuple[str, ...]
    function: str  # the function's name
    qualifier: str  # the alias the notifications invoke ("" for the unqualified function)
    target: str  # the ARN S3 invokes
    account: str
    sid: str
    permission: str  # "present" | "add" | "replace" (a stale statement of the same Sid)
    desired: tuple[LambdaNotification, ...]
    remove_ids: tuple[str, ...]  # mlayer's own notifications for this function, no longer wanted
    keep_ids: frozenset[str]  # every other Lambda notification of the bucket, kept as is
    notifications_changed: bool

    @property
    def changed(self) -> bool:
        return self.permission != "present" or self.notifications_changed

    def to_dict(self) -> dict:
        return {
            "action": "updated" if self.changed else "unchanged",
            "bucket": self.bucket,
            "prefix": self.prefix,
            "suffixes": list(self.suffixes),
            "target": self.target,
            "permission": {"sid": self.sid, "action": self.permission},
            "notifications": [
                {"id": n.id, "events": list(n.events), "prefix": n.prefix, "suffix": n.suffix}
                for n in self.desired
            ],
            "notifications_changed": self.notifications_changed,
            "removed": list(self.remove_ids),
        }

    def render_lines(self, verb: str) -> list[str]:
        where = f"s3://{self.bucket}/{self.prefix}"
        if not self.changed:
            return [f"File trigger {where} ({', '.join(self.suffixes)}): unchanged."]
        lines = [
            f"{verb} set the file trigger {where} ({', '.join(self.suffixes)}) -> {self.target}:"
        ]
        if self.permission != "present":
            lines.append(
                f"  permission {self.sid}: s3.amazonaws.com may invoke it ({self.permission})"
            )
        if self.notifications_changed:
            ids = ", ".join(n.id for n in self.desired)
            lines.append(f"  notifications ObjectCreated: {ids}")
        return lines


def plan_file_trigger(
    *,
    bucket: str,
    prefix: str,
    suffixes: Sequence[str],
    function: str,
    qualifier: str,
    target: str,
    account: str,
    notifications: Sequence[LambdaNotification],
    permissions: Sequence[InvokePermission],
) -> FileTriggerPlan:
    """What to change so that objects created under the prefix invoke ``target``."""
    desired = tuple(
        LambdaNotification(notification_id(function, s), target, EVENTS, prefix, s)
        for s in dict.fromkeys(suffixes)
    )
    ours = {notification_id(function, s) for s in suffixes}
    mine = f"mlayer-{function}-"
    current_ours = [n for n in notifications if n.id.startswith(mine) or n.id in ours]
    keep = frozenset(n.id for n in notifications if n not in current_ours)
    remove = tuple(n.id for n in current_ours if n.id not in ours)
    sid = permission_sid(bucket)
    statement = next((p for p in permissions if p.sid == sid), None)
    if statement is None:
        permission = "add"
    elif (
        statement.principal == "s3.amazonaws.com"
        and statement.source_arn == f"arn:aws:s3:::{bucket}"
        and statement.source_account == account
    ):
        permission = "present"
    else:
        permission = "replace"
    return FileTriggerPlan(
        bucket=bucket,
        prefix=prefix,
        suffixes=tuple(dict.fromkeys(suffixes)),
        function=function,
        qualifier=qualifier,
        target=target,
        account=account,
        sid=sid,
        permission=permission,
        desired=desired,
        remove_ids=remove,
        keep_ids=keep,
        notifications_changed=sorted(current_ours, key=lambda n: n.id)
        != sorted(desired, key=lambda n: n.id),
    )
