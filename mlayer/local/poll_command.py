"""`mlayer poll --local`: the stream's records delivered to the emulated function as Lambda's
event-source mapping would (mapping_settings.py says with which settings); api.poll delegates.

The poll runs with the function's role (its reads) and writes its checkpoints to the artifact
bucket, so a second poll resumes where the first stopped, as a mapping does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlayer.deploying.deploy_plan import on_failure_url
from mlayer.errors import NotFoundError, UsageError
from mlayer.local.alias_router import AliasRouter, is_alias, split_qualifier
from mlayer.local.checkpoints import BucketCheckpoints, checkpoint_key
from mlayer.local.destinations import failure_sender
from mlayer.local.environment import role_gateway
from mlayer.local.mapping_settings import mapping_for
from mlayer.local.poller import BatchProgress, Mapping, Poller, PollResult
from mlayer.local.prepare import emulator_for

if TYPE_CHECKING:
    from mlayer.config import Settings
    from mlayer.request_types import PollRequest

OnBatch = Callable[[BatchProgress], None]


@dataclass
class PollSummary:
    result: PollResult
    mapping_note: str
    cold_starts: int

    @property
    def ok(self) -> bool:
        """False when records were given up: `mlayer poll` then exits 1."""
        return self.result.ok

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            **self.result.to_dict(),
            "mapping": self.mapping_note,
            "cold_starts": self.cold_starts,
        }

    def render(self) -> str:
        return f"{self.result.render()}\nSettings from {self.mapping_note}; {self.cold_starts} cold start(s)."


def require_local(request: PollRequest) -> None:
    """On AWS the mapping itself polls: refused before any AWS client is made."""
    if not request.local:
        raise UsageError(
            "`mlayer poll` runs the function locally only; on AWS, Lambda's own mapping polls "
            "the stream.",
            "Add --local.",
        )


def poll_request(
    gateway: Any, settings: Settings, request: PollRequest, *, on_batch: OnBatch | None = None
) -> PollSummary:
    """The request resolved against the settings ([function], [trigger], the bucket), then polled."""
    return poll(
        gateway,
        settings.artifacts.bucket,
        request.function or settings.function.name,
        request.stream or settings.trigger.stream,
        settings.trigger,
        batch_size=request.batch_size,
        max_batches=request.max_batches,
        until_empty=request.until_empty,
        on_batch=on_batch,
        on_failure=on_failure_url(settings),  # what deploy-function gives the trigger
    )


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
    on_batch: OnBatch | None = None,
    on_failure: str = "",
) -> PollSummary:
    """Deliver the stream's records to the emulated function as the event-source mapping would
    (without a mapping: [trigger]'s settings and ``on_failure``, deploy-function's destination)."""
    if not stream:
        raise UsageError(
            "No stream to poll.", "Pass --stream NAME or set [trigger] stream in mlayer.toml."
        )
    runner, config, invoke = _runner(gateway, bucket, function)
    try:
        mapping, note = mapping_for(gateway, config, stream, trigger, batch_size, on_failure)
    except NotFoundError as exc:
        runner.close()
        raise UsageError(
            f"Stream {stream} does not exist: {exc.message}", "Check --stream / [trigger] stream."
        ) from exc
    poller = _poller(gateway, bucket, function, config, mapping, invoke, on_batch)
    with runner:
        result = poller.run(max_batches=max_batches, until_empty=until_empty)
        return PollSummary(result, note, runner.cold_starts)


def _runner(
    gateway: Any, bucket: str, function: str
) -> tuple[Any, dict[str, Any], Callable[[Any], Any]]:
    """What runs each batch: one emulator, or an alias's router that applies its weights per
    batch as the event-source mapping does; with the function's configuration."""
    name, qualifier = split_qualifier(function)
    if qualifier and is_alias(qualifier):
        router = AliasRouter(
            gateway, name, qualifier, lambda v: emulator_for(gateway, bucket, name, v)[0]
        )
        return router, gateway.get_function_configuration(name), lambda e: router.invoke(e)[1]
    emulator, config = emulator_for(gateway, bucket, name, qualifier)
    return emulator, config, emulator.invoke


def _poller(
    gateway: Any,
    bucket: str,
    function: str,
    config: dict[str, Any],
    mapping: Mapping,
    invoke: Callable[[Any], Any],
    on_batch: OnBatch | None,
) -> Poller:
    """The poller wired as the mapping is: checkpoints in the bucket, failures to the
    destination, reads with the function's role."""
    name, _ = split_qualifier(function)
    gateway.ensure_bucket(bucket)
    checkpoints = BucketCheckpoints(gateway, bucket, checkpoint_key(name, mapping.stream_arn))
    send = failure_sender(gateway, mapping.on_failure, mapping.uuid) if mapping.on_failure else None
    reader = role_gateway(gateway, config.get("Role"))  # the mapping reads with the function's role

    def at(shard_id: str, when: dt.datetime) -> str:
        iterator: str = reader.get_shard_iterator_at(mapping.stream, shard_id, when)
        return iterator

    return Poller(
        reader,
        invoke,
        mapping,
        send_failure=send,
        checkpoints=checkpoints,
        on_batch=on_batch,
        timestamp_iterator=at,
    )
