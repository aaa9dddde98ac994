"""`mlayer invoke --local` and `mlayer poll --local`: wiring of the emulator, the poller and AWS.

api.invoke / api.poll delegate here; results render themselves and never print.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlayer.errors import NotFoundError, UsageError
from mlayer.local import limits, pricing
from mlayer.local.alias_router import AliasRouter, is_alias, split_qualifier
from mlayer.local.checkpoints import BucketCheckpoints, checkpoint_key
from mlayer.local.destinations import failure_sender
from mlayer.local.emulator import InvokeResult
from mlayer.local.environment import role_gateway
from mlayer.local.metrics_out import publish_invocation
from mlayer.local.poller import BatchProgress, Mapping, Poller, PollResult
from mlayer.local.prepare import emulator_for
from mlayer.local.shadow_share import ShadowShare, shadow_share


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


def _invocation_dict(r: InvokeResult) -> dict:
    return {
        "request_id": r.request_id,
        "response": r.payload,
        "function_error": r.function_error,
        "report": {**r.report.__dict__, "line": r.report.line()},
        "logs": r.logs,
    }


def _pretty(payload: Any) -> str:
    return (
        json.dumps(payload, indent=2, sort_keys=True) if not isinstance(payload, str) else payload
    )


@dataclass
class InvokeSummary:
    """What `mlayer invoke` shows: the response(s), REPORT lines and the cost estimate."""

    function: str
    local: bool
    results: list[InvokeResult] = field(default_factory=list)
    architecture: str = "x86_64"
    memory_mb: int = 128
    remote: dict | None = None
    provisioned_concurrency: int = 0  # [function] keys: the cost estimate includes their prices
    snapstart: bool = False

    @property
    def ok(self) -> bool:
        if self.remote is not None:
            return not self.remote.get("FunctionError")
        return all(r.error is None for r in self.results)

    def cost(self) -> pricing.CostEstimate | None:
        if not self.results:
            return None
        warm = [r.report.billed_ms for r in self.results if r.report.init_ms is None]
        billed = round(statistics.mean(warm)) if warm else self.results[-1].report.billed_ms
        return pricing.estimate(
            self.architecture,
            self.memory_mb,
            billed,
            provisioned_concurrency=self.provisioned_concurrency,
            snapstart=self.snapstart,
        )

    def shadow(self) -> ShadowShare | None:
        """The candidate's share of the duration and cost (a shadow model, shadow_share.py)."""
        cost = self.cost()
        logs = [line for r in self.results for line in r.logs]
        total = sum(r.report.duration_ms for r in self.results)
        return shadow_share(logs, total, cost.per_million_usd) if cost else None

    def to_dict(self) -> dict:
        """Stable keys, local or not: response, function_error, report{...}, cost{...}.

        ``response``/``report`` are the last invocation's (the one the text output shows);
        ``invocations`` lists every one of a ``--repeat``. ``report`` and ``cost`` are null for
        Lambda's own Invoke, whose REPORT line is in ``logs``.
        """
        if self.remote is not None:
            return {
                "function": self.function,
                "local": False,
                "ok": self.ok,
                "request_id": None,
                "response": self.remote.get("Response"),
                "function_error": self.remote.get("FunctionError"),
                "report": None,
                "cost": None,
                "logs": (self.remote.get("LogResult") or "").splitlines(),
                "status_code": self.remote.get("StatusCode"),
                "executed_version": self.remote.get("ExecutedVersion"),
                "cold_starts": None,
                "invocations": [],
            }
        cost = self.cost()
        shadow = self.shadow()
        invocations = [_invocation_dict(r) for r in self.results]
        last = invocations[-1] if invocations else {}
        return {
            "function": self.function,
            "local": True,
            "ok": self.ok,
            "request_id": last.get("request_id"),
            "response": last.get("response"),
            "function_error": last.get("function_error"),
            "report": last.get("report"),
            "cost": cost.to_dict() if cost else None,
            "shadow": shadow.to_dict() if shadow else None,
            "logs": last.get("logs", []),
            "cold_starts": sum(1 for r in self.results if r.report.init_ms is not None),
            "invocations": invocations,
        }

    def render(self) -> str:
        if self.remote is not None:
            lines = [
                self.remote.get("LogResult", "").rstrip(),
                _pretty(self.remote.get("Response")),
            ]
            if self.remote.get("FunctionError"):
                lines.append(f"Function error: {self.remote['FunctionError']}")
            return "\n".join(x for x in lines if x)
        last = self.results[-1]
        lines = [f"Response{' (function error)' if last.error else ''}:", _pretty(last.payload)]
        lines += [r.report.line() for r in self.results]
        if len(self.results) > 1:
            warm = [r.report.duration_ms for r in self.results if r.report.init_ms is None]
            if warm:
                lines.append(
                    f"{len(self.results)} invocations, {sum(1 for r in self.results if r.report.init_ms is not None)} cold; "
                    f"warm duration median {statistics.median(warm):.2f} ms"
                )
        cost = self.cost()
        if cost:
            lines.append(cost.line())
        shadow = self.shadow()
        if shadow:
            lines.append(shadow.line())
        return "\n".join(lines)


def invoke(
    gateway: Any,
    bucket: str,
    function: str,
    event: Any,
    *,
    repeat: int = 1,
    on_log: Callable[[str], None] | None = None,
    provisioned_concurrency: int = 0,
    snapstart: bool = False,
) -> InvokeSummary:
    """Invoke the function ``repeat`` times on one warm emulated container."""
    limits.check_event(event)
    name, qualifier = split_qualifier(function)
    if is_alias(qualifier):  # one version per invocation, by the alias's weights (Lambda's way)
        with AliasRouter(
            gateway,
            name,
            qualifier,
            lambda v: emulator_for(gateway, bucket, name, v, on_log=on_log)[0],
        ) as router:
            results = [router.invoke(event)[1] for _ in range(repeat)]
            spec = next(iter(router.emulators.values())).spec
        return InvokeSummary(function, True, results, spec.architecture, spec.memory_mb)
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


def mapping_for(
    gateway: Any,
    function_config: dict,
    stream: str,
    trigger: Any,
    batch_size: int | None,
    on_failure: str = "",
) -> tuple[Mapping, str]:
    """The mapping's settings: AWS's event-source mapping when one exists, else [trigger] with
    ``on_failure``, the destination deploy-function would give it. Also a note."""
    summary = gateway.describe_stream(stream.rsplit("/", 1)[-1])
    stream_arn, name = summary["StreamARN"], summary["StreamName"]
    # By the stream, then by function ARN (or one of its versions/aliases): moto finds nothing
    # when asked by function name, and reports an alias's mapping under a version ARN.
    function_arn = function_config["FunctionArn"]
    esms = [
        e
        for e in gateway.list_event_source_mappings(source_arn=stream_arn)
        if e.get("FunctionArn", "") == function_arn
        or e.get("FunctionArn", "").startswith(function_arn + ":")
    ]
    common = {
        "stream": name,
        "stream_arn": stream_arn,
        "function_arn": function_config["FunctionArn"],
        "role_arn": function_config.get("Role", ""),
        "region": gateway.region,
    }
    if esms:
        e = esms[0]
        position = e.get("StartingPosition", "LATEST")
        ts = e.get("StartingPositionTimestamp")
        note = f"event-source mapping {e['UUID']}"
        if position == "LATEST":  # LATEST means "from when the mapping was made"
            position, ts = "AT_TIMESTAMP", e.get("LastModified")
        destination = ((e.get("DestinationConfig") or {}).get("OnFailure") or {}).get(
            "Destination", ""
        )
        m = Mapping(
            **common,
            batch_size=batch_size or int(e.get("BatchSize", 100)),
            starting_position=position,
            starting_timestamp=ts,
            max_retries=int(e.get("MaximumRetryAttempts", -1)),
            max_record_age=int(e.get("MaximumRecordAgeInSeconds", -1)),
            bisect_on_error=bool(e.get("BisectBatchOnFunctionError", False)),
            report_item_failures="ReportBatchItemFailures"
            in (e.get("FunctionResponseTypes") or []),
            on_failure=destination,
            uuid=e.get("UUID", ""),
        )
        return m, note
    m = Mapping(
        **common,
        batch_size=batch_size or trigger.batch_size,
        starting_position="TRIM_HORIZON",
        max_retries=trigger.max_retries,
        max_record_age=trigger.max_record_age,
        bisect_on_error=True,
        report_item_failures=True,
        on_failure=on_failure or trigger.on_failure,
    )
    return (
        m,
        "no event-source mapping for this function and stream: [trigger] settings, from the oldest record",
    )


@dataclass
class PollSummary:
    result: PollResult
    mapping_note: str
    cold_starts: int

    @property
    def ok(self) -> bool:
        """False when records were given up: `mlayer poll` then exits 1."""
        return self.result.ok

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            **self.result.to_dict(),
            "mapping": self.mapping_note,
            "cold_starts": self.cold_starts,
        }

    def render(self) -> str:
        return f"{self.result.render()}\nSettings from {self.mapping_note}; {self.cold_starts} cold start(s)."


def poll(
    gateway: Any,
    bucket: str,
    function: str,
    stream: str,
    trigger: Any,
    *,
    batch_size: int | None = None,
    max_batches: int | None = None,
    until_empty: bool = True,
    on_batch: Callable[[BatchProgress], None] | None = None,
    on_failure: str = "",
) -> PollSummary:
    """Deliver the stream's records to the emulated function as the event-source mapping would
    (without a mapping: [trigger]'s settings and ``on_failure``, deploy-function's destination)."""
    if not stream:
        raise UsageError(
            "No stream to poll.", "Pass --stream NAME or set [trigger] stream in mlayer.toml."
        )
    name, qualifier = split_qualifier(function)
    if is_alias(qualifier):  # per batch, as the event-source mapping applies the weights
        runner: Any = AliasRouter(
            gateway, name, qualifier, lambda v: emulator_for(gateway, bucket, name, v)[0]
        )
        config, invoke = gateway.get_function_configuration(name), (lambda e: runner.invoke(e)[1])
    else:
        runner, config = emulator_for(gateway, bucket, name, qualifier)
        invoke = runner.invoke
    try:
        mapping, note = mapping_for(gateway, config, stream, trigger, batch_size, on_failure)
    except NotFoundError as exc:
        runner.close()
        raise UsageError(
            f"Stream {stream} does not exist: {exc.message}", "Check --stream / [trigger] stream."
        ) from exc
    gateway.ensure_bucket(bucket)
    checkpoints = BucketCheckpoints(gateway, bucket, checkpoint_key(name, mapping.stream_arn))
    send = failure_sender(gateway, mapping.on_failure, mapping.uuid) if mapping.on_failure else None

    reader = role_gateway(gateway, config.get("Role"))  # the mapping reads with the function's role

    def at(shard_id: str, when: dt.datetime) -> str:
        return reader.get_shard_iterator_at(mapping.stream, shard_id, when)

    with runner:
        poller = Poller(
            reader,
            invoke,
            mapping,
            send_failure=send,
            checkpoints=checkpoints,
            on_batch=on_batch,
            timestamp_iterator=at,
        )
        result = poller.run(max_batches=max_batches, until_empty=until_empty)
        return PollSummary(result, note, runner.cold_starts)
