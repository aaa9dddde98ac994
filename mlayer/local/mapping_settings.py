"""The settings `mlayer poll --local` delivers records with: the function's event-source mapping
on AWS when one exists, else [trigger]'s, as deploy-function would create the mapping.

Read from AWS's mapping first so a local poll replays what Lambda would do with the deployed
mapping (its starting point, retries, bisecting, destination), not what mlayer.toml says now.
"""

from __future__ import annotations

from typing import Any

from mlayer.local.poller import Mapping

NO_MAPPING_NOTE = "no event-source mapping for this function and stream: [trigger] settings, from the oldest record"


def mapping_for(
    gateway: Any,
    function_config: dict[str, Any],
    stream: str,
    trigger: Any,
    batch_size: int | None,
    on_failure: str = "",
) -> tuple[Mapping, str]:
    """The mapping's settings: AWS's event-source mapping when one exists, else [trigger] with
    ``on_failure``, the destination deploy-function would give it. Also a note."""
    summary = gateway.describe_stream(stream.rsplit("/", 1)[-1])
    common: dict[str, Any] = {
        "stream": summary["StreamName"],
        "stream_arn": summary["StreamARN"],
        "function_arn": function_config["FunctionArn"],
        "role_arn": function_config.get("Role", ""),
        "region": gateway.region,
    }
    esms = _mappings_of(gateway, summary["StreamARN"], function_config["FunctionArn"])
    if esms:
        return _from_mapping(esms[0], common, batch_size), f"event-source mapping {esms[0]['UUID']}"
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
    return m, NO_MAPPING_NOTE


def _mappings_of(gateway: Any, stream_arn: str, function_arn: str) -> list[dict[str, Any]]:
    """The stream's mappings to the function or one of its versions/aliases.

    Asked by the stream, then filtered by function ARN: moto finds nothing when asked by
    function name, and reports an alias's mapping under a version ARN.
    """
    return [
        e
        for e in gateway.list_event_source_mappings(source_arn=stream_arn)
        if e.get("FunctionArn", "") == function_arn
        or e.get("FunctionArn", "").startswith(function_arn + ":")
    ]


def _from_mapping(e: dict[str, Any], common: dict[str, Any], batch_size: int | None) -> Mapping:
    """AWS's mapping as the poller's settings; LATEST means "from when the mapping was made"."""
    position = e.get("StartingPosition", "LATEST")
    ts = e.get("StartingPositionTimestamp")
    if position == "LATEST":
        position, ts = "AT_TIMESTAMP", e.get("LastModified")
    destination = ((e.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination", "")
    return Mapping(
        **common,
        batch_size=batch_size or int(e.get("BatchSize", 100)),
        starting_position=position,
        starting_timestamp=ts,
        max_retries=int(e.get("MaximumRetryAttempts", -1)),
        max_record_age=int(e.get("MaximumRecordAgeInSeconds", -1)),
        bisect_on_error=bool(e.get("BisectBatchOnFunctionError", False)),
        report_item_failures="ReportBatchItemFailures" in (e.get("FunctionResponseTypes") or []),
        on_failure=destination,
        uuid=e.get("UUID", ""),
    )
