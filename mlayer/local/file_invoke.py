"""`mlayer invoke --local --s3 s3://bucket/key`: the S3 event Lambda would get, and its
continuations, run in the emulation.

The embedded AWS delivers no S3 notification to a function (moto's runner needs Docker) and
its events would carry no ``sequencer``: the event is built here from the object's head, as S3
writes it (eventName ObjectCreated:Put, the key URL-encoded with ``+`` for a space, size,
ETag, sequencer, the bucket's ARN). The function then runs in one warm emulated container;
each continuation it hands to itself (an asynchronous Invoke, which async_invokes.py takes in)
runs next, in order, until none is queued, as Lambda's asynchronous queue would run them.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote_plus

from mlayer.errors import NotFoundError, UsageError
from mlayer.local.async_invokes import ENDPOINT_ENV, AsyncInvokes
from mlayer.local.invoke_summary import InvokeSummary
from mlayer.local.prepare import emulator_for

MAX_INVOCATIONS = 10_000  # a runaway chain of continuations stops here


def parse_s3_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not uri.startswith("s3://") or not bucket or not key:
        raise UsageError(
            f"--s3 {uri!r} does not name an object.", "Pass --s3 s3://bucket/key/of/the/file.csv."
        )
    return bucket, key


def event_key(key: str) -> str:
    """A key as S3 event notifications write it: URL-encoded, ``+`` for a space."""
    return quote_plus(key, safe="/")


def s3_event(
    *,
    bucket: str,
    key: str,
    etag: str,
    size: int,
    region: str,
    version_id: str = "",
    configuration_id: str = "mlayer-local",
    now: datetime | None = None,
    sequencer: str | None = None,
) -> dict:
    """One ObjectCreated:Put record, as S3 sends it to Lambda (event version 2.1)."""
    moment = now or datetime.now(timezone.utc)
    obj: dict[str, Any] = {
        "key": event_key(key),
        "size": size,
        "eTag": etag.strip('"'),
        "sequencer": sequencer or f"{time.time_ns():016X}",
    }
    if version_id:
        obj["versionId"] = version_id
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": region,
                "eventTime": moment.strftime("%Y-%m-%dT%H:%M:%S.")
                + f"{moment.microsecond // 1000:03d}Z",
                "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "AWS:MLAYERLOCAL"},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {
                    "x-amz-request-id": uuid.uuid4().hex[:16].upper(),
                    "x-amz-id-2": uuid.uuid4().hex,
                },
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": configuration_id,
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": {"principalId": "MLAYERLOCAL"},
                        "arn": f"arn:aws:s3:::{bucket}",
                    },
                    "object": obj,
                },
            }
        ]
    }


def event_for_object(gateway: Any, uri: str) -> dict:
    """The event S3 would send for the object as it is now on the (embedded) AWS."""
    bucket, key = parse_s3_uri(uri)
    try:
        head = gateway.object_head(bucket, key)
    except NotFoundError as exc:
        raise NotFoundError(
            f"{uri} does not exist: there is no object to build the S3 event from.",
            "Upload it first (aws s3 cp FILE s3://bucket/key), or check the key.",
            exc.code,
        ) from exc
    return s3_event(
        bucket=bucket,
        key=key,
        etag=head.etag,
        size=head.size,
        region=gateway.region,
        version_id=head.version_id,
    )


def invoke_with_continuations(
    gateway: Any,
    bucket: str,
    function: str,
    event: Any,
    *,
    on_log: Callable[[str], None] | None = None,
) -> InvokeSummary:
    """The event, then every asynchronous invoke the function queues, on one warm container."""
    with AsyncInvokes() as endpoint:
        emulator, _ = emulator_for(  # with its role's credentials, as any invoke
            gateway, bucket, function, on_log=on_log, aws_extra={ENDPOINT_ENV: endpoint.url}
        )
        summary = InvokeSummary(
            function,
            True,
            architecture=emulator.spec.architecture,
            memory_mb=emulator.spec.memory_mb,
        )
        with emulator:
            summary.results.append(emulator.invoke(event))
            while len(summary.results) < MAX_INVOCATIONS:
                queued = endpoint.take()
                if queued is None:
                    break
                if on_log is not None:
                    on_log(f"[async invoke of {queued.function}] {queued.payload[:200]!r}")
                summary.results.append(emulator.invoke(json.loads(queued.payload or b"null")))
    return summary


def is_file_event(event: Any) -> bool:
    """An S3 event or a file's continuation (function/mlayer_function/files.py's shapes)."""
    if not isinstance(event, dict):
        return False
    if "mlayer_continuation" in event:
        return True
    records = event.get("Records")
    return bool(
        isinstance(records, list)
        and records
        and isinstance(records[0], dict)
        and records[0].get("eventSource") == "aws:s3"
    )
