"""The size limits Lambda and AWS enforce, where the emulation (or moto) would let a request pass.

Lambda refuses a synchronous invocation payload over 6 MB and a response over 6 MB; Kinesis a
record over 1 MiB; SQS a message over 1 MiB. An event a test or a user brings to
`invoke --local` is checked against what Lambda and its sources could ever deliver, the poller
cuts its batches to fit the payload limit as Lambda's event-source mapping does, and the
embedded AWS gets the one check moto lacks (PutRecord's 1 MiB).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterator
from typing import Any

from mlayer.errors import AwsError, UsageError

SYNC_PAYLOAD_MAX = 6_291_456  # bytes: "Request must be smaller than 6291456 bytes"
RESPONSE_MAX = 6_291_556  # bytes: "Response payload size exceeded ... (6291556 bytes)"
KINESIS_RECORD_MAX = 1_048_576  # bytes of data (before base64) plus the partition key
SQS_MESSAGE_MAX = 1_048_576  # bytes of body


def payload_too_large(function: str, size: int) -> AwsError:
    """What Lambda's Invoke answers for a request payload over 6 MB (HTTP 413)."""
    return AwsError(
        f"Invoking {function}: RequestEntityTooLargeException: Request must be smaller than "
        f"{SYNC_PAYLOAD_MAX} bytes for the InvokeFunction operation (the event is {size} bytes).",
        "Lambda refuses synchronous payloads over 6 MB: send fewer or smaller records per event "
        "(the Kinesis event-source mapping cuts its batches to fit).",
        "RequestEntityTooLargeException",
    )


def response_too_large() -> dict[str, Any]:
    """Lambda's error object when a function returns more than it may."""
    return {
        "errorType": "Function.ResponseSizeTooLarge",
        "errorMessage": f"Response payload size exceeded maximum allowed payload size "
        f"({RESPONSE_MAX} bytes).",
    }


def check_event(event: Any) -> None:
    """Refuse an event holding a record its source could never deliver (UsageError, exit 2).

    Kinesis records carry at most 1 MiB of data, SQS messages at most 1 MiB of body: Lambda never
    sees bigger ones, so an emulated run with one would test what cannot happen.
    """
    records = event.get("Records") if isinstance(event, dict) else None
    for i, record in enumerate(records if isinstance(records, list) else []):
        if not isinstance(record, dict):
            continue
        source = record.get("eventSource") or record.get("EventSource")
        if source == "aws:kinesis" or "kinesis" in record:
            kinesis = record.get("kinesis") or {}
            size = _b64_size(kinesis.get("data")) + _key_size(kinesis.get("partitionKey"))
            if size > KINESIS_RECORD_MAX:
                raise UsageError(
                    f"Records[{i}] holds {size} bytes of Kinesis data and partition key; "
                    f"Kinesis refuses a record over {KINESIS_RECORD_MAX} bytes (ValidationException: Member must have "
                    f"length less than or equal to {KINESIS_RECORD_MAX}), so Lambda never gets it.",
                    "Keep each record's data within 1 MiB (put big payloads in S3 and send their URI).",
                )
        elif source == "aws:sqs":
            body = record.get("body")
            size = len(body.encode()) if isinstance(body, str) else 0
            if size > SQS_MESSAGE_MAX:
                raise UsageError(
                    f"Records[{i}] holds an SQS message of {size} bytes; SQS refuses it "
                    f"(InvalidParameterValue: Message must be shorter than {SQS_MESSAGE_MAX} bytes).",
                    "Keep each message within 1 MiB (put big payloads in S3 and send their URI).",
                )


def _key_size(key: Any) -> int:
    """Kinesis counts the partition key (UTF-8) against a record's 1 MiB, as the data."""
    return len(key.encode("utf-8", "surrogatepass")) if isinstance(key, str) else 0


def _b64_size(data: Any) -> int:
    if not isinstance(data, str):
        return 0
    try:
        return len(base64.b64decode(data, validate=False))
    except (binascii.Error, ValueError):
        return 0


def fit_payload(
    records: list[dict[str, Any]],
    record_size: Callable[[dict[str, Any]], int],
    overhead: int,
    limit: int = SYNC_PAYLOAD_MAX,
) -> Iterator[list[dict[str, Any]]]:
    """Consecutive slices of ``records`` whose event (``overhead`` + each record's JSON size)
    stays within ``limit``; a record too big alone still gets its own slice (and Lambda's error).

    Lambda's event-source mapping invokes with fewer records than the batch size when the batch
    would pass 6 MB; the slices keep the stream's order.
    """
    chunk: list[dict[str, Any]] = []
    total = overhead
    for record in records:
        size = record_size(record)
        if chunk and total + size > limit:
            yield chunk
            chunk, total = [], overhead
        chunk.append(record)
        total += size
    if chunk:
        yield chunk


class KinesisRecordLimit:
    """WSGI middleware for the embedded AWS: PutRecord over 1 MiB gets Kinesis's own refusal.

    moto refuses an oversized record in PutRecords but accepts it in PutRecord.
    """

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("HTTP_X_AMZ_TARGET", "").endswith(".PutRecord"):
            import io

            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            try:
                doc = json.loads(body or b"{}")
            except ValueError:
                doc = {}
            doc = doc if isinstance(doc, dict) else {}
            if _b64_size(doc.get("Data")) + _key_size(doc.get("PartitionKey")) > KINESIS_RECORD_MAX:
                error = json.dumps(
                    {
                        "__type": "ValidationException",
                        "message": "1 validation error detected: Value at 'data' failed to "
                        "satisfy constraint: Member must have length less than or equal to "
                        f"{KINESIS_RECORD_MAX}",
                    }
                ).encode()
                start_response(
                    "400 Bad Request",
                    [
                        ("Content-Type", "application/x-amz-json-1.1"),
                        ("Content-Length", str(len(error))),
                    ],
                )
                return [error]
        return self.app(environ, start_response)
