"""An alias's provisioned concurrency, read before a rollout: AWS refuses weights on an alias
that has it ("Alias with weights can not be used with Provisioned Concurrency"), so a rollout
refuses first, before anything is published."""

from __future__ import annotations

from typing import Any

from mlayer.errors import AwsError, NotFoundError

NO_CONFIG = "ProvisionedConcurrencyConfigNotFoundException"
# An endpoint without the API (the embedded AWS answers a bare 404 page): nothing provisioned.
NO_API = ("404", "501", "NotImplemented", "NotImplementedException")


def alias_provisioned_concurrency(gw: Any, function: str, alias: str) -> int:
    """The executions provisioned on ``function:alias`` (0 when none are)."""
    try:
        doc = gw.call(
            "lambda",
            "get_provisioned_concurrency_config",
            f"Reading the provisioned concurrency of {function}:{alias}",
            FunctionName=function,
            Qualifier=alias,
        )
    except NotFoundError:
        return 0
    except AwsError as exc:
        if exc.code in (NO_CONFIG, *NO_API):
            return 0
        raise
    return int(doc.get("RequestedProvisionedConcurrentExecutions") or 0)
