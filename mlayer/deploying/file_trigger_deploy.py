"""deploy-function's file trigger: the reads its plan needs, and the writes, in order.

Called by deploy.py after the function (and its alias) exist: the permission first, then the
bucket's notifications. Both steps are idempotent, so a deploy stopped between them completes
when run again; the error says which step failed and that the function itself is deployed.
"""

from __future__ import annotations

from mlayer.config import Settings
from mlayer.config.file_trigger import split_s3
from mlayer.deploying.file_trigger_plan import FileTriggerPlan, plan_file_trigger
from mlayer.errors import AwsError, MlayerError
from mlayer.gateway import Gateway
from mlayer.gateway.views import FunctionConfig


def plan(gw: Gateway, settings: Settings, config: FunctionConfig | None) -> FileTriggerPlan | None:
    """The file trigger's plan (None without [trigger] s3), from the bucket and the function."""
    if not settings.trigger.s3:
        return None
    bucket, prefix = split_s3(settings.trigger.s3)
    name, alias = settings.function.name, settings.model.alias
    account = gw.account_id()
    base = (config.arn if config else "") or f"arn:aws:lambda:{gw.region}:{account}:function:{name}"
    exists = config is not None and (not alias or gw.alias(name, alias) is not None)
    return plan_file_trigger(
        bucket=bucket,
        prefix=prefix,
        suffixes=settings.trigger.s3_suffixes,
        function=name,
        qualifier=alias,
        target=f"{base}:{alias}" if alias else base,
        account=account,
        notifications=gw.lambda_notifications(bucket),
        permissions=gw.invoke_permissions(name, alias) if exists else [],
    )


def apply(gw: Gateway, fplan: FileTriggerPlan) -> None:
    """The permission, then the notifications; a failure names what is left to do."""
    step = "letting S3 invoke the function"
    try:
        if fplan.permission == "replace":
            gw.remove_invoke_permission(fplan.function, fplan.sid, fplan.qualifier)
        if fplan.permission != "present":
            gw.allow_s3_invoke(
                fplan.function, fplan.sid, fplan.bucket, fplan.account, fplan.qualifier
            )
        step = f"setting the notifications of bucket {fplan.bucket}"
        if fplan.notifications_changed:
            gw.set_lambda_notifications(fplan.bucket, fplan.keep_ids, list(fplan.desired))
    except MlayerError as exc:
        raise AwsError(
            f"deploy-function stopped while {step}: the function is deployed, its file trigger "
            f"s3://{fplan.bucket}/{fplan.prefix} is not complete. {exc.message}",
            f"Run `mlayer deploy-function` again: it adds only what is missing. {exc.hint}",
            getattr(exc, "code", "") or "FileTriggerIncomplete",
        ) from exc
