"""The embedded AWS never runs a function itself: mlayer's emulation does.

moto hands every Kinesis record (and DynamoDB stream item) to the functions its event-source
mappings target, at once, inside the PutRecords request. With no Docker it cannot run them,
and when a mapping targets an alias it fails outright (HTTP 500 on PutRecords), so a stream
triggering `[model] alias` could not be rehearsed. Lambda itself polls a stream, apart from the
producer: here `poll --local` is that poller. So the server keeps the records and delivers
nothing; the records stay in the shard for the emulation to read, as they would on AWS.
"""

from __future__ import annotations

from typing import Any

_APPLIED = False


def _deliver_nothing(*_args: Any, **_kwargs: Any) -> None:
    """What moto's backend does with a stream record for a mapping: nothing (see module)."""
    return None


def never_run_functions() -> None:
    """Turn off moto's synchronous delivery of stream records to functions (idempotent).

    It applies to the moto backend of this process, which is where the server runs (thread or
    child process). DynamoDB stream items are kept too (moto drops them only once delivered).
    """
    global _APPLIED
    if _APPLIED:
        return
    from moto.awslambda.models import LambdaBackend

    # moto's delivery methods replaced at run time (moto's callers ignore the result)
    LambdaBackend.send_kinesis_message = _deliver_nothing  # type: ignore[method-assign]
    LambdaBackend.send_dynamodb_items = _deliver_nothing  # type: ignore[method-assign,assignment]
    _APPLIED = True
