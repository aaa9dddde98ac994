"""`mlayer invoke`: the request routed to the emulation (a file's S3 event, or any event, warm
``--repeat`` times) or to Lambda's own Invoke; api.invoke delegates here.

Routing lives beside the emulation, not in api.py, because each refusal (``--s3`` without
``--local``, the embedded AWS that cannot run a function) is about what the emulation can do.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlayer.errors import UsageError
from mlayer.local import file_invoke, limits
from mlayer.local.alias_router import AliasRouter, is_alias, split_qualifier
from mlayer.local.invoke_summary import InvokeSummary
from mlayer.local.metrics_out import publish_invocation
from mlayer.local.prepare import emulator_for

if TYPE_CHECKING:
    from mlayer.config import Settings
    from mlayer.request_types import InvokeRequest

OnLog = Callable[[str], None]


def read_event(path: str | Path | None) -> Any:
    """The event JSON (e.g. from `sam local generate-event kinesis get-records`); required."""
    if path is None:
        raise UsageError(
            "No event to invoke the function with.",
            "Pass --event FILE: e.g. `sam local generate-event kinesis get-records > event.json`, "
            'or a file holding {"instances": [...]}.',
        )
    p = Path(path)
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(
            f"Event file {p} does not exist.", "Pass --event FILE with a JSON event."
        ) from None
    except ValueError as exc:
        raise UsageError(
            f"Event file {p} is not JSON: {exc}.",
            "Generate one with `sam local generate-event kinesis get-records`.",
        ) from None


def _is_embedded(endpoint_url: str | None) -> bool:
    """A local endpoint is the embedded AWS (moto), which stores functions but cannot run them."""
    if not endpoint_url:
        return False
    return any(h in endpoint_url for h in ("127.0.0.1", "localhost", "[::1]"))


def invoke_request(
    gateway: Any, settings: Settings, request: InvokeRequest, *, on_log: OnLog | None = None
) -> InvokeSummary:
    """One invocation (or ``repeat`` on one warm container), locally or on Lambda."""
    name = request.function or settings.function.name
    if request.s3:  # a file's S3 event, built from the object, continuations included
        if not request.local or request.event_file or request.repeat != 1:
            raise UsageError("--s3 needs --local, without --event or --repeat.", "Drop them.")
        bucket = gateway.artifact_bucket(settings.artifacts.bucket)
        event = file_invoke.event_for_object(gateway, request.s3)
        return file_invoke.invoke_with_continuations(gateway, bucket, name, event, on_log=on_log)
    event = read_event(request.event_file)
    if request.local and file_invoke.is_file_event(event):  # an S3 event (--event): the same
        bucket = gateway.artifact_bucket(settings.artifacts.bucket)
        return file_invoke.invoke_with_continuations(gateway, bucket, name, event, on_log=on_log)
    if request.local:
        return _invoke_configured(gateway, settings, name, event, request.repeat, on_log)
    if _is_embedded(settings.aws.endpoint_url):
        raise UsageError(
            "The embedded AWS (moto) stores functions but cannot run them.",
            "Add --local to run the function in mlayer's local Lambda emulation.",
        )
    if request.repeat != 1:
        raise UsageError("--repeat needs --local.", "Drop --repeat, or add --local.")
    return invoke_remote(gateway, name, event)


def _invoke_configured(
    gateway: Any, settings: Settings, name: str, event: Any, repeat: int, on_log: OnLog | None
) -> InvokeSummary:
    """The emulated invoke, priced with [function]'s keys when it is the configured function."""
    bucket = gateway.artifact_bucket(settings.artifacts.bucket)
    configured = name == settings.function.name  # [function] keys describe that one
    return invoke(
        gateway,
        bucket,
        name,
        event,
        repeat=repeat,
        on_log=on_log,
        provisioned_concurrency=settings.function.provisioned_concurrency if configured else 0,
        snapstart=settings.function.snapstart and configured,
    )


def invoke(
    gateway: Any,
    bucket: str,
    function: str,
    event: Any,
    *,
    repeat: int = 1,
    on_log: OnLog | None = None,
    provisioned_concurrency: int = 0,
    snapstart: bool = False,
) -> InvokeSummary:
    """Invoke the function ``repeat`` times on one warm emulated container."""
    limits.check_event(event)
    name, qualifier = split_qualifier(function)
    if qualifier and is_alias(qualifier):  # one version per invocation, by its weights
        return _invoke_alias(gateway, bucket, function, qualifier, event, repeat, on_log)
    emulator, config = emulator_for(gateway, bucket, name, qualifier, on_log=on_log)
    summary = InvokeSummary(
        function,
        True,
        architecture=emulator.spec.architecture,
        memory_mb=emulator.spec.memory_mb,
        provisioned_concurrency=provisioned_concurrency,
        snapstart=snapstart,
    )
    with emulator:
        for _ in range(repeat):
            stamp = time.time()
            summary.results.append(emulator.invoke(event))
            # what CloudWatch would hold (EMF extracted): `mlayer shadow status` reads it
            publish_invocation(
                gateway, name, None, qualifier or "$LATEST", summary.results[-1], stamp
            )
    return summary


def _invoke_alias(
    gateway: Any,
    bucket: str,
    function: str,
    alias: str,
    event: Any,
    repeat: int,
    on_log: OnLog | None,
) -> InvokeSummary:
    """Each invocation goes to one version, picked by the alias's weights (as Lambda does)."""
    name, _ = split_qualifier(function)
    with AliasRouter(
        gateway,
        name,
        alias,
        lambda v: emulator_for(gateway, bucket, name, v, on_log=on_log)[0],
    ) as router:
        results = [router.invoke(event)[1] for _ in range(repeat)]
        spec = next(iter(router.emulators.values())).spec
    return InvokeSummary(function, True, results, spec.architecture, spec.memory_mb)


def invoke_remote(gateway: Any, function: str, event: Any) -> InvokeSummary:
    """Lambda's own Invoke (real AWS only: the embedded one cannot run functions)."""
    resp = gateway.invoke_function(function, json.dumps(event).encode())
    try:
        response = json.loads(resp["Payload"] or b"null")
    except ValueError:
        response = resp["Payload"].decode("utf-8", "replace")
    return InvokeSummary(
        function,
        False,
        remote={
            "StatusCode": resp["StatusCode"],
            "FunctionError": resp["FunctionError"],
            "Response": response,
            "LogResult": resp["LogResult"],
            "ExecutedVersion": resp["ExecutedVersion"],
        },
    )
